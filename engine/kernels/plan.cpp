#include "kernels/plan.hpp"

namespace mq::kernels {

void Plan::record(vk::CommandSequence& seq) const {
    for (const auto& d : dispatches)
        if (!d.kernel)
            seq.barrier();
        else
            seq.dispatch(*d.kernel, d.set, d.push.data(), d.push_words * 4, d.groups[0],
                         d.groups[1], d.groups[2], d.label);
}

void Plan::append(const Plan& other) {
    dispatches.insert(dispatches.end(), other.dispatches.begin(), other.dispatches.end());
}

}  // namespace mq::kernels
