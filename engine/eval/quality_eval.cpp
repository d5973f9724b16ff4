#include "eval/quality_eval.hpp"

#include "core/error.hpp"

namespace mq::eval {

QualityTable run_eval(vk::Context&, const EvalOptions&, const JobProgressFn&,
                      const std::atomic<bool>*) {
    fail("eval is being built (issue 6); not available in this build yet");
}

}  // namespace mq::eval
