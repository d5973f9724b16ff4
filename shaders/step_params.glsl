// The per-step values the host writes before each submission, so that one recorded command
// buffer serves every decode position.
#ifndef STEP_PARAMS_GLSL
#define STEP_PARAMS_GLSL
#define STEP_PARAMS(binding_index)                                                   \
    layout(std430, binding = binding_index) readonly buffer StepParams {             \
        uint pos0;      /* position of the first token of this step */               \
        uint n_tokens;  /* tokens in this step */                                    \
    } step;
#endif
