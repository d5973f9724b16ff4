// The plain C++ reference forward: against an independent float64 torch oracle on tiny random
// models of each architecture, MoBiSlice depths against the dense model, the KV cache's
// positions, and the errors a caller can provoke.
#include <doctest/doctest.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <nlohmann/json.hpp>

#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "fixture_models.hpp"
#include "formats/model_loader.hpp"
#include "runtime/model_weights.hpp"
#include "runtime/reference_forward.hpp"
#include "tokenizer/tokenizer.hpp"

using namespace mq;
using namespace mq::rt;
namespace fs = std::filesystem;

namespace {

const fs::path kFixtures = fs::path(MQ_SOURCE_DIR) / "tests/runtime_ref/fixtures";
const fs::path kModels = fs::path(MQ_BINARY_DIR) / "tiny-models";

ModelWeights load_tiny(const test::TinyModelSpec& spec) {
    return ModelWeights::load(LoadedModel::open(test::write_tiny_model(spec, kModels)));
}

uint64_t file_hash(const fs::path& path) {
    std::ifstream in(path, std::ios::binary);
    std::vector<char> bytes((std::istreambuf_iterator<char>(in)), {});
    return test::fnv1a64(std::as_bytes(std::span(bytes)));
}

// max |a - b| / max |b| over one logits row.
double row_error(std::span<const float> a, std::span<const float> b) {
    REQUIRE(a.size() == b.size());
    double worst = 0, scale = 1e-12;
    for (size_t i = 0; i < a.size(); ++i) {
        worst = std::max(worst, std::fabs(double(a[i]) - b[i]));
        scale = std::max(scale, std::fabs(double(b[i])));
    }
    return worst / scale;
}

uint32_t argmax(std::span<const float> v) {
    return static_cast<uint32_t>(std::max_element(v.begin(), v.end()) - v.begin());
}

nlohmann::json read_json(const fs::path& path) {
    std::ifstream in(path);
    REQUIRE_MESSAGE(in.good(), "cannot open " << path);
    return nlohmann::json::parse(in);
}

// Compares the reference forward's logits for the fixture's ids with the fixture's rows.
void check_against_fixture(const ModelWeights& w, const nlohmann::json& fixture) {
    const auto ids = fixture.at("ids").get<std::vector<uint32_t>>();
    const auto expected = fixture.at("logits").get<std::vector<std::vector<float>>>();
    REQUIRE(expected.size() == ids.size());
    ReferenceForward ref(w, static_cast<uint32_t>(ids.size()));
    auto logits = ref.prefill(ids, 0, {});
    for (size_t pos = 0; pos < ids.size(); ++pos) {
        CAPTURE(pos);
        REQUIRE(expected[pos].size() == w.desc.vocab_size);
        CHECK(row_error(logits[pos], expected[pos]) < 1e-4);
        CHECK(argmax(logits[pos]) == argmax(expected[pos]));
    }
}

TokenDepths mixed_depths(uint32_t n_layers, uint32_t seed) {
    TokenDepths d(n_layers);
    for (uint32_t l = 0; l < n_layers; ++l)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j)
            d[l][j] = uint8_t(1 + (seed + 3 * l + j) % 4);
    return d;
}

}  // namespace

TEST_CASE("reference logits match the independent torch oracle on tiny llama and qwen2 models") {
    size_t checked = 0;
    for (const auto& entry : fs::directory_iterator(kFixtures)) {
        if (entry.path().extension() != ".json") continue;
        const nlohmann::json fixture = read_json(entry.path());
        if (!fixture.contains("spec")) continue;  // the default model's fixture: below
        CAPTURE(entry.path().filename().string());
        const test::TinyModelSpec spec = test::spec_from_json(fixture.at("spec"));
        const fs::path path = test::write_tiny_model(spec, kModels);
        // The generator is bit-exact; a different file means the fixture is stale.
        REQUIRE_MESSAGE(fmt::format("{:016x}", file_hash(path)) ==
                            fixture.at("gguf_fnv1a64").get<std::string>(),
                        "write_tiny_model's output changed: rerun tools/check/make_fixtures.sh");
        check_against_fixture(ModelWeights::load(LoadedModel::open(path)), fixture);
        ++checked;
    }
    CHECK(checked >= 3);  // llama GQA tied, llama untied + llama3 rope, qwen2 with bias
}

// MQ_REFERENCE_MODEL / MQ_REFERENCE_FIXTURE point this test at another model and fixture
// (made with tools/check/reference_logits.py --extra '{"gguf_fnv1a64": ...}').
TEST_CASE("reference logits on the default model match the oracle and predict held-out text") {
    const char* model_env = std::getenv("MQ_REFERENCE_MODEL");
    const char* fixture_env = std::getenv("MQ_REFERENCE_FIXTURE");
    const fs::path asset =
        model_env ? fs::path(model_env) : fs::path(MQ_SOURCE_DIR) / "assets/default-model.gguf";
    REQUIRE_MESSAGE(fs::exists(asset), asset << " is missing");
    const ModelWeights w = ModelWeights::load(LoadedModel::open(asset));
    const fs::path fixture_path =
        fixture_env ? fs::path(fixture_env) : kFixtures / "default_model.json";
    REQUIRE_MESSAGE(fs::exists(fixture_path),
                    "no oracle fixture " << fixture_path << ": run tools/check/make_fixtures.sh");
    const nlohmann::json fixture = read_json(fixture_path);
    REQUIRE_MESSAGE(fmt::format("{:016x}", file_hash(asset)) == fixture.at("gguf_fnv1a64"),
                    "the model changed since "
                        << fixture_path << " was recorded: rerun tools/check/make_fixtures.sh");
    check_against_fixture(w, fixture);
    // A trained model predicts its held-out text far better than chance.
    const tok::Tokenizer tokenizer(tok::load_tokenizer_spec(asset));
    const std::string text = read_text_file(fs::path(MQ_SOURCE_DIR) / "assets/heldout.txt");
    std::vector<int32_t> ids = tokenizer.encode(text.substr(0, 2000));
    ids.resize(std::min<size_t>(ids.size(), 64));
    REQUIRE(ids.size() >= 16);
    ReferenceForward ref(w, 64);
    double nll = 0;
    for (size_t t = 0; t + 1 < ids.size(); ++t) {
        auto logits = ref.step(uint32_t(ids[t]), uint32_t(t), {});
        double max = *std::max_element(logits.begin(), logits.end()), sum = 0;
        for (float l : logits) sum += std::exp(l - max);
        nll += max + std::log(sum) - logits[ids[t + 1]];
    }
    const double ppl = std::exp(nll / double(ids.size() - 1));
    MESSAGE("default model: perplexity " << ppl << " on " << ids.size() << " held-out tokens");
    CHECK(ppl < w.desc.vocab_size / 10.0);
}

TEST_CASE("uniform depth 4 stays close to the dense model, depth 1 is further away") {
    for (const auto& m : test::fixture_models()) {
        CAPTURE(m.name);
        ModelWeights w = load_tiny(m.spec);
        w.slice_all();
        const std::vector<uint32_t> ids = {1,   5,  77, 200, 31,  31, 260, 9,
                                           150, 42, 18, 3,   280, 64, 99,  120};
        auto run = [&](uint8_t depth) {
            ReferenceForward ref(w, 32);
            std::vector<TokenDepths> d = {uniform_depths(w.desc.n_layers, depth)};
            return ref.prefill(ids, 0, d);
        };
        const auto dense = run(0), d4 = run(4), d1 = run(1);
        double worst4 = 0, mean4 = 0, mean1 = 0;
        size_t same_greedy = 0;
        for (size_t t = 0; t < ids.size(); ++t) {
            const double e4 = row_error(d4[t], dense[t]), e1 = row_error(d1[t], dense[t]);
            worst4 = std::max(worst4, e4);
            mean4 += e4 / ids.size();
            mean1 += e1 / ids.size();
            same_greedy += argmax(d4[t]) == argmax(dense[t]);
        }
        MESSAGE(m.name << ": relative logit error depth 4 mean " << mean4 << " worst " << worst4
                       << ", depth 1 mean " << mean1 << "; greedy equal at " << same_greedy << "/"
                       << ids.size());
        CHECK(mean4 < 0.02);
        CHECK(worst4 < 0.04);
        CHECK(same_greedy >= ids.size() * 7 / 8);
        CHECK(mean1 > 4 * mean4);
    }
}

TEST_CASE("mixed per-linear depths: each linear reads its own depth") {
    // Changing the depth of one linear for the second token changes its logits (at position 0
    // attention ignores q and k, so the first token keeps the base depths).
    ModelWeights w = load_tiny(test::fixture_models()[0].spec);
    w.slice_all();
    const TokenDepths base = mixed_depths(w.desc.n_layers, 0);
    ReferenceForward ref(w, 4);
    ref.step(7, 0, base);
    const auto a = ref.step(9, 1, base);
    for (uint32_t layer = 0; layer < w.desc.n_layers; ++layer)
        for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
            CAPTURE(layer);
            CAPTURE(std::string(linear_name(Linear(j))));
            TokenDepths d = base;
            d[layer][j] = d[layer][j] == 4 ? 1 : 4;
            CHECK(row_error(ref.step(9, 1, d), a) > 1e-6);  // rewinds to position 1 each time
        }
    CHECK(ref.step(9, 1, base) == a);
}

TEST_CASE("a depth-k linear computes with exactly the weights SlicedMatrix::weight() decodes") {
    // The same model with every dense matrix replaced by its depth-k dequantization gives
    // bitwise the same logits on the dense path as the original on the depth-k path.
    const auto spec = test::fixture_models()[2].spec;  // ragged groups (K = 96, 200)
    ModelWeights w = load_tiny(spec);
    w.slice_all();
    const std::vector<uint32_t> ids = {1, 50, 7, 300};
    for (uint8_t depth = 1; depth <= 4; ++depth) {
        CAPTURE(int(depth));
        ModelWeights dq = load_tiny(spec);
        double worst_linear = 0;
        for (uint32_t l = 0; l < dq.desc.n_layers; ++l)
            for (uint32_t j = 0; j < kLinearsPerLayer; ++j) {
                auto& lw = dq.layers[l].linear[j];
                auto deq = w.layers[l].linear[j].sliced->dequantize(depth);
                double num = 0, den = 0;
                for (size_t i = 0; i < deq.size(); ++i) {
                    num += std::pow(double(deq[i]) - lw.dense[i], 2);
                    den += std::pow(double(lw.dense[i]), 2);
                }
                worst_linear = std::max(worst_linear, std::sqrt(num / den));
                lw.dense = std::move(deq);
            }
        MESSAGE("depth " << int(depth) << ": worst relative weight error of a linear "
                         << worst_linear);
        ReferenceForward a(w, 8), b(dq, 8);
        std::vector<TokenDepths> d = {uniform_depths(spec.n_layers, depth)};
        CHECK(a.prefill(ids, 0, d) == b.prefill(ids, 0, {}));
    }
}

TEST_CASE("prefill equals token-by-token steps, and the cache can be rewound") {
    ModelWeights w = load_tiny(test::fixture_models()[2].spec);  // qwen2: bias + neox rope
    w.slice_all();
    const std::vector<uint32_t> ids = {1, 40, 41, 300, 2, 17, 17, 99};
    std::vector<TokenDepths> depths;
    for (uint32_t t = 0; t < ids.size(); ++t) depths.push_back(mixed_depths(w.desc.n_layers, t));

    ReferenceForward whole(w, 16);
    const auto all = whole.prefill(ids, 0, depths);
    REQUIRE(all.size() == ids.size());

    // Half as a prefill, the rest one step at a time.
    ReferenceForward split(w, 16);
    auto first = split.prefill(std::span(ids).first(3), 0, std::span(depths).first(3));
    for (size_t t = 0; t < 3; ++t) CHECK(first[t] == all[t]);
    for (uint32_t t = 3; t < ids.size(); ++t) CHECK(split.step(ids[t], t, depths[t]) == all[t]);
    CHECK(split.cached_tokens() == ids.size());

    // Rewinding to position 5 and running a different continuation equals a fresh run of it.
    const auto rewound = split.step(123, 5, depths[5]);
    CHECK(split.cached_tokens() == 6);
    ReferenceForward fresh(w, 16);
    std::vector<uint32_t> other(ids.begin(), ids.begin() + 5);
    other.push_back(123);
    CHECK(fresh.prefill(other, 0, std::span(depths).first(6)).back() == rewound);

    // reset() forgets everything.
    whole.reset();
    CHECK(whole.cached_tokens() == 0);
    CHECK(whole.step(ids[0], 0, depths[0]) == all[0]);
}

TEST_CASE(
    "last_linear_input is what each linear saw: the normed input, the attention output, "
    "the gated hidden") {
    const ModelWeights w = load_tiny(test::fixture_models()[0].spec);
    ReferenceForward ref(w, 4);
    ref.step(17, 0, {});
    const ModelDesc& d = w.desc;
    // Layer 0's q/k/v input: rmsnorm(token_embd[17]) * attn_norm.
    std::vector<float> expected(d.dim);
    double ss = 0;
    for (uint32_t i = 0; i < d.dim; ++i) ss += std::pow(w.token_embd[17 * d.dim + i], 2);
    for (uint32_t i = 0; i < d.dim; ++i)
        expected[i] = float(w.token_embd[17 * d.dim + i] / std::sqrt(ss / d.dim + d.rms_eps) *
                            w.layers[0].attn_norm[i]);
    for (Linear l : {Linear::Q, Linear::K, Linear::V})
        CHECK(row_error(ref.last_linear_input(0, l), expected) < 1e-6);
    // At position 0 attention returns v itself: o's input is v (repeated per query group).
    const auto& wv = w.layers[0][Linear::V];
    std::vector<float> v(d.kv_dim());
    for (uint32_t r = 0; r < d.kv_dim(); ++r) {
        double acc = 0;
        for (uint32_t c = 0; c < d.dim; ++c) acc += double(wv.dense[r * d.dim + c]) * expected[c];
        v[r] = float(acc);
    }
    const auto o_in = ref.last_linear_input(0, Linear::O);
    REQUIRE(o_in.size() == d.q_dim());
    const uint32_t group = d.n_heads / d.n_kv_heads;
    for (uint32_t h = 0; h < d.n_heads; ++h)
        for (uint32_t i = 0; i < d.head_dim; ++i)
            CHECK(o_in[h * d.head_dim + i] ==
                  doctest::Approx(v[(h / group) * d.head_dim + i]).epsilon(1e-5));
    CHECK(ref.last_linear_input(1, Linear::Gate).size() == d.dim);
    CHECK(ref.last_linear_input(1, Linear::Down).size() == d.ffn_dim);
    CHECK(ref.last_linear_input(0, Linear::Up) == ref.last_linear_input(0, Linear::Gate));
}

TEST_CASE("the reference refuses positions past the context, gaps, bad tokens and bad depths") {
    ModelWeights w = load_tiny(test::fixture_models()[0].spec);
    ReferenceForward ref(w, 3);
    for (uint32_t t = 0; t < 3; ++t) ref.step(t + 1, t, {});
    CHECK_THROWS_WITH_AS(ref.step(5, 3, {}), doctest::Contains("past the context of 3"), mq::Error);
    ref.reset();
    CHECK_THROWS_WITH_AS(ref.step(5, 1, {}), doctest::Contains("skips ahead"), mq::Error);
    CHECK_THROWS_WITH_AS(ref.step(w.desc.vocab_size, 0, {}),
                         doctest::Contains("outside the vocabulary"), mq::Error);
    const std::vector<uint32_t> four = {1, 2, 3, 4};
    CHECK_THROWS_AS(ref.prefill(four, 0, {}), mq::Error);
    // Depth 2 on a model that was never sliced names the layer and the linear.
    TokenDepths d = uniform_depths(w.desc.n_layers, 0);
    d[1][static_cast<uint32_t>(Linear::Up)] = 2;
    CHECK_THROWS_WITH_AS(ref.step(5, 0, d), doctest::Contains("layer 1 linear up is not sliced"),
                         mq::Error);
    d[1][static_cast<uint32_t>(Linear::Up)] = 5;
    CHECK_THROWS_WITH_AS(ref.step(5, 0, d), doctest::Contains("outside 0..4"), mq::Error);
    CHECK_THROWS_AS(ref.step(5, 0, uniform_depths(w.desc.n_layers + 1, 0)), mq::Error);
    // A failed step leaves the cache usable.
    CHECK(ref.cached_tokens() == 0);
    CHECK_NOTHROW(ref.step(5, 0, {}));
}

TEST_CASE("the tiny model's vocabulary loads as a SentencePiece tokenizer") {
    const fs::path path = test::write_tiny_model(test::fixture_models()[0].spec, kModels);
    const tok::Tokenizer tokenizer(tok::load_tokenizer_spec(path));
    CHECK(tokenizer.n_vocab() == 300);
    const auto ids = tokenizer.encode("the cat and\n{}");
    CHECK(ids.front() == tokenizer.bos());
    CHECK(std::find(ids.begin(), ids.end(), tokenizer.find("\xE2\x96\x81the")) != ids.end());
    CHECK(tokenizer.decode(ids) == "the cat and\n{}");
}

TEST_CASE("reference speed on a 4.5M-parameter model") {
    test::TinyModelSpec spec;  // about the default model's shape
    spec.vocab = 4096;
    spec.dim = 256;
    spec.n_layers = 6;
    spec.n_heads = 8;
    spec.n_kv_heads = 4;
    spec.ffn = 640;
    spec.context = 256;
    ModelWeights w = load_tiny(spec);
    uint64_t params = w.token_embd.size();
    for (auto& L : w.layers)
        for (auto& lw : L.linear) params += lw.dense.size();
    w.slice_all();
    ReferenceForward ref(w, 64);
    auto time_tokens = [&](uint8_t depth) {
        ref.reset();
        const TokenDepths d = uniform_depths(spec.n_layers, depth);
        const auto start = std::chrono::steady_clock::now();
        for (uint32_t t = 0; t < 64; ++t) ref.step((t * 37) % spec.vocab, t, d);
        return 64 / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    };
    const double dense = time_tokens(0), d4 = time_tokens(4), d1 = time_tokens(1);
    MESSAGE(params << " parameters: " << dense << " tokens/s dense, " << d4 << " at depth 4, " << d1
                   << " at depth 1 (64 tokens)");
    // ~50 tokens/s on one free core; a loose floor because the test machines are shared.
    CHECK(dense > 15);
    CHECK(d4 > 5);
}
