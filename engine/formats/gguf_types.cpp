// ggml tensor types: sizes, dequantization to f32 and the reference Q8_0/Q4_0 quantizers.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>

#include "core/error.hpp"
#include "core/half.hpp"
#include "formats/gguf.hpp"

namespace mq::gguf {

namespace {

constexpr uint32_t kQK = 32;    // block size of the legacy quants
constexpr uint32_t kQKK = 256;  // block size of the k-quants and i-quants

struct TypeEntry {
    uint32_t id;
    TypeTraits traits;
};

// From ggml's type_traits table (block sizes and bytes per block).
constexpr std::array kTypes = {
    TypeEntry{0, {"f32", 1, 4}},          TypeEntry{1, {"f16", 1, 2}},
    TypeEntry{2, {"q4_0", kQK, 18}},      TypeEntry{3, {"q4_1", kQK, 20}},
    TypeEntry{6, {"q5_0", kQK, 22}},      TypeEntry{7, {"q5_1", kQK, 24}},
    TypeEntry{8, {"q8_0", kQK, 34}},      TypeEntry{9, {"q8_1", kQK, 36}},
    TypeEntry{10, {"q2_k", kQKK, 84}},    TypeEntry{11, {"q3_k", kQKK, 110}},
    TypeEntry{12, {"q4_k", kQKK, 144}},   TypeEntry{13, {"q5_k", kQKK, 176}},
    TypeEntry{14, {"q6_k", kQKK, 210}},   TypeEntry{15, {"q8_k", kQKK, 292}},
    TypeEntry{16, {"iq2_xxs", kQKK, 66}}, TypeEntry{17, {"iq2_xs", kQKK, 74}},
    TypeEntry{18, {"iq3_xxs", kQKK, 98}}, TypeEntry{19, {"iq1_s", kQKK, 50}},
    TypeEntry{20, {"iq4_nl", kQK, 18}},   TypeEntry{21, {"iq3_s", kQKK, 110}},
    TypeEntry{22, {"iq2_s", kQKK, 82}},   TypeEntry{23, {"iq4_xs", kQKK, 136}},
    TypeEntry{24, {"i8", 1, 1}},          TypeEntry{25, {"i16", 1, 2}},
    TypeEntry{26, {"i32", 1, 4}},         TypeEntry{27, {"i64", 1, 8}},
    TypeEntry{28, {"f64", 1, 8}},         TypeEntry{29, {"iq1_m", kQKK, 56}},
    TypeEntry{30, {"bf16", 1, 2}},        TypeEntry{34, {"tq1_0", kQKK, 54}},
    TypeEntry{35, {"tq2_0", kQKK, 66}},   TypeEntry{39, {"mxfp4", kQK, 17}},
};

template <typename T>
T load(const std::byte* p) {
    T v;
    std::memcpy(&v, p, sizeof(T));
    return v;
}

float load_half(const std::byte* p) {
    return half_to_float(load<uint16_t>(p));
}

// The 6-bit scale and min of sub-block j (0..7) packed in the 12 scale bytes of Q4_K / Q5_K.
void scale_min_k4(int j, const uint8_t* q, uint8_t& scale, uint8_t& min) {
    if (j < 4) {
        scale = q[j] & 63;
        min = q[j + 4] & 63;
    } else {
        scale = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
        min = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j] >> 6) << 4));
    }
}

// Q4_K {f16 d, dmin; u8 scales[12]; u8 qs[128]} and Q5_K (u8 qh[32] between scales and qs), as
// ggml's dequantize_row_q4_K / _q5_K: 8 sub-blocks of 32 values, d * scale * q - dmin * min;
// each 32 bytes of qs hold two sub-blocks (low nibbles, then high nibbles), and Q5_K's fifth
// bit of sub-block j is bit j of qh[l].
void dequantize_q4_5_k(const std::byte* p, float* y, uint64_t n, bool five_bits) {
    const size_t block_bytes = five_bits ? 176 : 144;
    for (uint64_t b = 0; b < n / kQKK; ++b, p += block_bytes) {
        const float d = load_half(p), dmin = load_half(p + 2);
        const auto* scales = reinterpret_cast<const uint8_t*>(p + 4);
        const auto* qh = reinterpret_cast<const uint8_t*>(p + 16);
        const auto* q = reinterpret_cast<const uint8_t*>(p + (five_bits ? 48 : 16));
        for (int j = 0; j < 8; j += 2, q += 32) {
            uint8_t sc0, m0, sc1, m1;
            scale_min_k4(j, scales, sc0, m0);
            scale_min_k4(j + 1, scales, sc1, m1);
            for (int l = 0; l < 32; ++l) {
                int high = five_bits ? ((qh[l] >> j) & 1) << 4 : 0;
                *y++ = d * sc0 * ((q[l] & 0xF) | high) - dmin * m0;
            }
            for (int l = 0; l < 32; ++l) {
                int high = five_bits ? ((qh[l] >> (j + 1)) & 1) << 4 : 0;
                *y++ = d * sc1 * ((q[l] >> 4) | high) - dmin * m1;
            }
        }
    }
}

// Q6_K {u8 ql[128]; u8 qh[64]; i8 scales[16]; f16 d}, as ggml's dequantize_row_q6_K.
void dequantize_q6_k(const std::byte* p, float* y, uint64_t n) {
    for (uint64_t b = 0; b < n / kQKK; ++b, p += 210) {
        const auto* ql = reinterpret_cast<const uint8_t*>(p);
        const auto* qh = reinterpret_cast<const uint8_t*>(p + 128);
        const auto* sc = reinterpret_cast<const int8_t*>(p + 192);
        const float d = load_half(p + 208);
        for (int half = 0; half < 2; ++half, y += 128, ql += 64, qh += 32, sc += 8) {
            for (int l = 0; l < 32; ++l) {
                int is = l / 16;
                int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
                int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                y[l] = d * sc[is] * q1;
                y[l + 32] = d * sc[is + 2] * q2;
                y[l + 64] = d * sc[is + 4] * q3;
                y[l + 96] = d * sc[is + 6] * q4;
            }
        }
    }
}

}  // namespace

const TypeTraits* type_traits(uint32_t type_id) {
    for (const auto& e : kTypes)
        if (e.id == type_id) return &e.traits;
    return nullptr;
}

const TypeTraits& type_traits(TensorType type) {
    const TypeTraits* t = type_traits(static_cast<uint32_t>(type));
    if (!t) fail("unknown ggml tensor type {}", static_cast<uint32_t>(type));
    return *t;
}

const char* tensor_type_name(TensorType type) {
    const TypeTraits* t = type_traits(static_cast<uint32_t>(type));
    return t ? t->name : "unknown";
}

bool can_dequantize(TensorType type) {
    switch (type) {
        case TensorType::F32:
        case TensorType::F16:
        case TensorType::BF16:
        case TensorType::F64:
        case TensorType::Q8_0:
        case TensorType::Q4_0:
        case TensorType::Q4_1:
        case TensorType::Q5_0:
        case TensorType::Q5_1:
        case TensorType::Q4_K:
        case TensorType::Q5_K:
        case TensorType::Q6_K:
        case TensorType::I8:
        case TensorType::I16:
        case TensorType::I32:
            return true;
        default:
            return false;
    }
}

uint64_t tensor_bytes(TensorType type, uint64_t n_elements) {
    const TypeTraits& t = type_traits(type);
    if (n_elements % t.block_size != 0)
        fail("{} elements are not a whole number of {} blocks ({} elements each)", n_elements,
             t.name, t.block_size);
    uint64_t blocks = n_elements / t.block_size;
    uint64_t bytes;
    if (__builtin_mul_overflow(blocks, uint64_t{t.block_bytes}, &bytes))
        fail("{} elements of {} overflow a 64-bit size", n_elements, t.name);
    return bytes;
}

void dequantize(TensorType type, std::span<const std::byte> data, std::span<float> out) {
    const uint64_t n = out.size();
    if (data.size() != tensor_bytes(type, n))
        fail("dequantize {}: {} bytes given for {} elements (expected {})", tensor_type_name(type),
             data.size(), n, tensor_bytes(type, n));
    const std::byte* p = data.data();
    float* y = out.data();
    switch (type) {
        case TensorType::F32:
            if (n) std::memcpy(y, p, n * 4);
            return;
        case TensorType::F16:
            for (uint64_t i = 0; i < n; ++i) y[i] = load_half(p + 2 * i);
            return;
        case TensorType::BF16:
            for (uint64_t i = 0; i < n; ++i) y[i] = bf16_to_float(load<uint16_t>(p + 2 * i));
            return;
        case TensorType::F64:
            for (uint64_t i = 0; i < n; ++i) y[i] = static_cast<float>(load<double>(p + 8 * i));
            return;
        case TensorType::I8:
            for (uint64_t i = 0; i < n; ++i) y[i] = static_cast<float>(load<int8_t>(p + i));
            return;
        case TensorType::I16:
            for (uint64_t i = 0; i < n; ++i) y[i] = static_cast<float>(load<int16_t>(p + 2 * i));
            return;
        case TensorType::I32:
            for (uint64_t i = 0; i < n; ++i) y[i] = static_cast<float>(load<int32_t>(p + 4 * i));
            return;
        case TensorType::Q8_0:  // {f16 d; i8 qs[32]}
            for (uint64_t b = 0; b < n / kQK; ++b, p += 34, y += kQK) {
                float d = load_half(p);
                for (uint32_t j = 0; j < kQK; ++j)
                    y[j] = d * static_cast<float>(load<int8_t>(p + 2 + j));
            }
            return;
        case TensorType::Q4_0:  // {f16 d; u8 qs[16]}: low nibbles are items 0..15, high 16..31
            for (uint64_t b = 0; b < n / kQK; ++b, p += 18, y += kQK) {
                float d = load_half(p);
                for (uint32_t j = 0; j < kQK / 2; ++j) {
                    uint8_t q = load<uint8_t>(p + 2 + j);
                    y[j] = d * (static_cast<int>(q & 0x0F) - 8);
                    y[j + kQK / 2] = d * (static_cast<int>(q >> 4) - 8);
                }
            }
            return;
        case TensorType::Q4_1:  // {f16 d, m; u8 qs[16]}
            for (uint64_t b = 0; b < n / kQK; ++b, p += 20, y += kQK) {
                float d = load_half(p), m = load_half(p + 2);
                for (uint32_t j = 0; j < kQK / 2; ++j) {
                    uint8_t q = load<uint8_t>(p + 4 + j);
                    y[j] = d * (q & 0x0F) + m;
                    y[j + kQK / 2] = d * (q >> 4) + m;
                }
            }
            return;
        case TensorType::Q5_0:  // {f16 d; u32 qh; u8 qs[16]}: 5th bits in qh
            for (uint64_t b = 0; b < n / kQK; ++b, p += 22, y += kQK) {
                float d = load_half(p);
                uint32_t qh = load<uint32_t>(p + 2);
                for (uint32_t j = 0; j < kQK / 2; ++j) {
                    uint8_t q = load<uint8_t>(p + 6 + j);
                    int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
                    y[j] = d * (((q & 0x0F) | h0) - 16);
                    y[j + kQK / 2] = d * (((q >> 4) | h1) - 16);
                }
            }
            return;
        case TensorType::Q5_1:  // {f16 d, m; u32 qh; u8 qs[16]}
            for (uint64_t b = 0; b < n / kQK; ++b, p += 24, y += kQK) {
                float d = load_half(p), m = load_half(p + 2);
                uint32_t qh = load<uint32_t>(p + 4);
                for (uint32_t j = 0; j < kQK / 2; ++j) {
                    uint8_t q = load<uint8_t>(p + 8 + j);
                    int h0 = ((qh >> j) << 4) & 0x10, h1 = (qh >> (j + 12)) & 0x10;
                    y[j] = d * ((q & 0x0F) | h0) + m;
                    y[j + kQK / 2] = d * ((q >> 4) | h1) + m;
                }
            }
            return;
        case TensorType::Q4_K:
            dequantize_q4_5_k(p, y, n, false);
            return;
        case TensorType::Q5_K:
            dequantize_q4_5_k(p, y, n, true);
            return;
        case TensorType::Q6_K:
            dequantize_q6_k(p, y, n);
            return;
        default:
            fail(
                "cannot convert tensor type {} to f32 (supported: f32 f16 bf16 f64 q8_0 q4_0 "
                "q4_1 q5_0 q5_1 q4_k q5_k q6_k i8 i16 i32)",
                tensor_type_name(type));
    }
}

std::vector<std::byte> quantize_q8_0(std::span<const float> x) {
    if (x.size() % kQK) fail("quantize_q8_0: {} values are not a multiple of 32", x.size());
    std::vector<std::byte> out(x.size() / kQK * 34);
    std::byte* p = out.data();
    for (size_t b = 0; b < x.size(); b += kQK, p += 34) {
        float amax = 0;
        for (uint32_t j = 0; j < kQK; ++j) amax = std::max(amax, std::fabs(x[b + j]));
        float d = amax / 127.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t dh = float_to_half(d);
        std::memcpy(p, &dh, 2);
        for (uint32_t j = 0; j < kQK; ++j) {
            auto q = static_cast<int8_t>(std::lround(x[b + j] * id));
            std::memcpy(p + 2 + j, &q, 1);
        }
    }
    return out;
}

std::vector<std::byte> quantize_q4_0(std::span<const float> x) {
    if (x.size() % kQK) fail("quantize_q4_0: {} values are not a multiple of 32", x.size());
    std::vector<std::byte> out(x.size() / kQK * 18);
    std::byte* p = out.data();
    for (size_t b = 0; b < x.size(); b += kQK, p += 18) {
        float amax = 0, max = 0;  // the value of largest magnitude, with its sign
        for (uint32_t j = 0; j < kQK; ++j) {
            if (std::fabs(x[b + j]) > amax) {
                amax = std::fabs(x[b + j]);
                max = x[b + j];
            }
        }
        float d = max / -8.0f, id = d != 0 ? 1.0f / d : 0.0f;
        uint16_t dh = float_to_half(d);
        std::memcpy(p, &dh, 2);
        for (uint32_t j = 0; j < kQK / 2; ++j) {
            int lo = std::min(15, static_cast<int>(static_cast<int8_t>(x[b + j] * id + 8.5f)));
            int hi = std::min(15, static_cast<int>(static_cast<int8_t>(x[b + j + 16] * id + 8.5f)));
            auto q = static_cast<uint8_t>(lo | (hi << 4));
            std::memcpy(p + 2 + j, &q, 1);
        }
    }
    return out;
}

}  // namespace mq::gguf
