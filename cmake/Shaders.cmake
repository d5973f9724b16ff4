# Compile GLSL compute shaders to SPIR-V at build time and embed them as C arrays:
# the program never looks up shader files at run time.
#   mq_shader(NAME name SOURCE file.comp [DEFINES A=1 B ...])
# produces ${MQ_SHADER_OUT}/name.spv.h declaring `const uint32_t name[]`.
set(MQ_SHADER_OUT ${CMAKE_BINARY_DIR}/generated/shaders)
# Output rows each invocation of the row-per-lane mat-vecs computes: the shaders' ROWS and the
# dispatch sizes of engine/kernels/matmul_ops.cpp, which must agree.
set(MQ_MATVEC_ROWS_PER_LANE 4)
# Output rows each subgroup of the row-per-subgroup (GPU) MoBiSlice mat-vec computes: the
# shader's R and the workgroup count of matmul_ops.cpp.
set(MQ_MATVEC_ROWS_PER_SUBGROUP 4)
# Invocations per workgroup of the one-dimensional transformer shaders (rmsnorm, attention, the
# router, ...): their local_size_x and the dispatch sizes of engine/runtime/vulkan_forward.cpp.
# A power of two (the workgroup reductions halve it).
set(MQ_WORKGROUP_SIZE 64)
file(MAKE_DIRECTORY ${MQ_SHADER_OUT})
set_property(GLOBAL PROPERTY MQ_SHADER_HEADERS "")
set_property(GLOBAL PROPERTY MQ_SHADER_NAMES "")

function(mq_shader)
  cmake_parse_arguments(S "" "NAME;SOURCE" "DEFINES" ${ARGN})
  set(defs -DMQ_MATVEC_ROWS_PER_LANE=${MQ_MATVEC_ROWS_PER_LANE}
           -DMQ_MATVEC_ROWS_PER_SUBGROUP=${MQ_MATVEC_ROWS_PER_SUBGROUP}
           -DMQ_WORKGROUP_SIZE=${MQ_WORKGROUP_SIZE})
  foreach(d ${S_DEFINES})
    list(APPEND defs -D${d})
  endforeach()
  set(out ${MQ_SHADER_OUT}/${S_NAME}.spv.h)
  file(GLOB includes ${CMAKE_SOURCE_DIR}/shaders/*.glsl)
  add_custom_command(OUTPUT ${out}
    COMMAND Vulkan::glslangValidator --quiet -V --target-env vulkan1.1 ${defs}
            -I${CMAKE_SOURCE_DIR}/shaders --vn spv_${S_NAME} -o ${out}
            ${CMAKE_SOURCE_DIR}/shaders/${S_SOURCE}
    DEPENDS ${CMAKE_SOURCE_DIR}/shaders/${S_SOURCE} ${includes}
    COMMENT "glslang ${S_NAME}" VERBATIM)
  set_property(GLOBAL APPEND PROPERTY MQ_SHADER_HEADERS ${out})
  set_property(GLOBAL APPEND PROPERTY MQ_SHADER_NAMES ${S_NAME})
endfunction()
