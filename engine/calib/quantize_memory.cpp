#include "calib/quantize_memory.hpp"

#include <algorithm>
#include <fstream>
#include <sstream>

#include "core/error.hpp"
#include "quant/mobislice.hpp"

namespace mq::calib {

namespace {
std::string gb(uint64_t bytes) {
    return fmt::format("{:.1f} GB", double(bytes) / 1e9);
}
}  // namespace

uint64_t QuantizeMemory::total() const {
    return activations + layer + probes + fixed;
}

std::string QuantizeMemory::describe() const {
    std::string s = fmt::format("{} (calibration activations {}, one layer's weights {}",
                                gb(total()), gb(activations), gb(layer));
    if (probes) s += fmt::format(", loss-sensitivity probes {}", gb(probes));
    return s + fmt::format(", fixed {})", gb(fixed));
}

QuantizeMemory estimate_quantize_memory(const ModelDesc& d, uint64_t n, bool global_allocation) {
    const uint64_t dim = d.dim, q = d.q_dim(), kv = d.kv_dim(), ffn = d.ffn_dim;
    QuantizeMemory m;
    // Rows alive while the down projection is calibrated: the residual, its norm, gate, up, the
    // linear's features, output, errors and the layer pass's temporaries (q, k, v, attention).
    m.activations = n * 4 * (4 * ffn + 5 * dim + 2 * q + 2 * kv);
    const uint64_t layer_weights = q * dim * 2 + kv * dim * 2 + ffn * dim * 3;
    const uint64_t largest = std::max({q * dim, ffn * dim});
    // f32 layer + for the largest linear: its 4 decoded depths, the difference matrix and slices.
    m.layer = layer_weights * 4 + largest * (4 * 5 + 2);
    if (global_allocation) {
        // The loss-sensitivity pass (calib/fisher_sensitivity.hpp): the output head in f32, a
        // residual stream per layer, one layer's weights with its slices and the head's logits
        // for a chunk of tokens (at most ~256 MB), besides the layer's traced intermediates and
        // the largest linear's output errors at the three probed depths.
        const uint64_t head = uint64_t(d.vocab_size) * dim * 4;
        m.probes = head + n * dim * 4 * (d.n_layers + 2) + layer_weights * 4 * 9 / 8 +
                   std::min<uint64_t>(n * uint64_t(d.vocab_size) * 4 * 2, 512ull << 20) +
                   n * 4 * (3 * ffn + 4 * dim + 3 * q + 2 * kv) +
                   n * 4 * 3 * std::max({ffn, q, dim});
    }
    // Routers, calibration scores, tokenizer, code and libraries.
    m.fixed = (200u << 20) + uint64_t(d.n_layers) * 7 * (n * 12 + ffn * 16 * 4);
    return m;
}

uint64_t available_memory() {
    std::ifstream in("/proc/meminfo");
    std::string line;
    while (std::getline(in, line))
        if (line.rfind("MemAvailable:", 0) == 0) {
            std::istringstream fields(line.substr(13));
            uint64_t kb = 0;
            fields >> kb;
            return kb * 1024;
        }
    return 0;
}

void check_quantize_memory(const QuantizeMemory& need, uint64_t available) {
    if (available == 0 || need.total() <= available) return;
    fail(
        "quantizing this model needs about {} of memory; {} is available. Use fewer calibration "
        "tokens (--calib-tokens), --allocation per-linear (no loss-sensitivity probes), or a "
        "machine with more memory",
        need.describe(), gb(available));
}

}  // namespace mq::calib
