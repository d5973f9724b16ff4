// The per-step values the host writes before each submission, so that one recorded command
// buffer serves every decode position.
#ifndef STEP_PARAMS_GLSL
#define STEP_PARAMS_GLSL
#define STEP_PARAMS(binding_index)                                                   \
    layout(std430, binding = binding_index) readonly buffer StepParams {             \
        uint pos0;      /* position of the first token of this step */               \
        uint n_tokens;  /* tokens in this step */                                    \
    } step;

// Tokens of several sequences in one step (PER_TOKEN variants): token t sits at position
// slots[t].y of its sequence, whose KV cache region starts at cache row slots[t].x.
// token_position(t) and token_row0(t) (the cache row of position 0) serve both variants.
#ifdef PER_TOKEN
#define TOKEN_SLOTS(binding_index)                                                   \
    layout(std430, binding = binding_index) readonly buffer TokenSlots {             \
        uvec2 slots[];                                                               \
    } token_slots;
#define token_position(t) token_slots.slots[t].y
#define token_row0(t) token_slots.slots[t].x
#else
#define token_position(t) (step.pos0 + (t))
#define token_row0(t) 0u
#endif
#endif
