// Cross-check against an independent implementation: @huggingface/gguf (npm, run with node)
// parses a file our writer produced; its metadata, tensor infos and data offset must match ours.
// node_modules is installed on first use from the committed package.json + package-lock.json.
#include <doctest/doctest.h>
#include <unistd.h>

#include <array>
#include <cstdio>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>

#include "core/half.hpp"
#include "formats/gguf.hpp"
#include "support/fixtures.hpp"

namespace fs = std::filesystem;
using namespace mq::gguf;

namespace {

std::pair<int, std::string> run(const std::string& command) {
    std::string out;
    FILE* p = popen(command.c_str(), "r");
    if (!p) return {-1, ""};
    std::array<char, 4096> buf;
    size_t n;
    while ((n = fread(buf.data(), 1, buf.size(), p)) > 0) out.append(buf.data(), n);
    int status = pclose(p);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, out};
}

// Compares one of our values with the oracle's JSON rendering of it.
void check_value(const Value& ours, const nlohmann::json& theirs, const std::string& key) {
    CAPTURE(key);
    switch (ours.type) {
        case ValueType::String:
            CHECK(theirs == ours.as_string());
            break;
        case ValueType::Bool:
            CHECK(theirs == ours.as_bool());
            break;
        case ValueType::Float32:
        case ValueType::Float64:
            CHECK(theirs.get<double>() == ours.as_float());
            break;
        case ValueType::UInt64:  // BigInts come back as strings
            CHECK(theirs.get<std::string>() == std::to_string(ours.as_uint()));
            break;
        case ValueType::Int64:
            CHECK(theirs.get<std::string>() == std::to_string(ours.as_int()));
            break;
        case ValueType::Array: {
            const Array& a = ours.as_array();
            REQUIRE(theirs.is_array());
            REQUIRE(theirs.size() == a.items.size());
            for (size_t i = 0; i < a.items.size(); ++i) check_value(a.items[i], theirs[i], key);
            break;
        }
        default:
            CHECK(theirs.get<int64_t>() == ours.as_int());
            break;
    }
}

}  // namespace

TEST_CASE("gguf oracle: @huggingface/gguf reads our files exactly as we do") {
    if (run("command -v node >/dev/null 2>&1").first != 0) {
        mq::test::skip_test(
            "node is not installed, so the @huggingface/gguf cross-check cannot run "
            "(tools/install-deps.sh installs nodejs and npm)");
        return;
    }
    const fs::path oracle = fs::path(MQ_SOURCE_DIR) / "tests/formats/oracle";
    if (!fs::exists(oracle / "node_modules/@huggingface/gguf/package.json")) {
        auto [rc, out] = run("npm ci --prefix '" + oracle.string() + "' --no-audit --no-fund 2>&1");
        INFO(out);
        REQUIRE_MESSAGE(rc == 0, "npm ci failed in tests/formats/oracle");
    }

    Writer w;
    w.set_alignment(64);
    w.set_string("general.architecture", "llama");
    w.set("t.u8", Value::u8(200));
    w.set("t.i8", Value::i8(-100));
    w.set("t.u16", Value::u16(60000));
    w.set("t.i16", Value::i16(-30000));
    w.set("t.u32", Value::u32(3000000000u));
    w.set("t.i32", Value::i32(-2000000000));
    w.set("t.u64", Value::u64(18000000000000000000ull));
    w.set("t.i64", Value::i64(-9000000000000000000ll));
    w.set("t.f32", Value::f32(0.1f));
    w.set("t.f64", Value::f64(0.1));
    w.set("t.bool", Value::boolean(false));
    w.set("t.string", Value::string("ünïcödé ✓ 😀"));
    w.set_string_array("t.strings", {"<s>", "</s>", "▁the", ""});
    std::vector<float> scores{0.0f, -1.5f, 2.25f};
    w.set_f32_array("t.scores", scores);
    w.set("t.nested", Value::array(ValueType::Array,
                                   {Value::array(ValueType::Int32, {Value::i32(1), Value::i32(-2)}),
                                    Value::array(ValueType::Int32, {})}));
    std::vector<float> embd(64 * 3, 0.5f);
    w.add_tensor_f32("token_embd.weight", {64, 3}, embd);
    std::vector<float> q(64, 0.25f);
    w.add_tensor("blk.0.attn_q.weight", TensorType::Q8_0, {64}, quantize_q8_0(q));
    w.add_tensor("blk.0.attn_k.weight", TensorType::Q4_0, {32, 2}, quantize_q4_0(q));
    std::vector<uint16_t> h(7, mq::float_to_half(1.0f));
    w.add_tensor("norm", TensorType::F16, {7}, std::as_bytes(std::span<const uint16_t>(h)));
    std::vector<int32_t> codes(5, 7);
    w.add_tensor("codes", TensorType::I32, {5}, std::as_bytes(std::span<const int32_t>(codes)));

    fs::path file =
        fs::temp_directory_path() / ("mq_test_oracle_" + std::to_string(getpid()) + ".gguf");
    w.write(file);
    File ours = File::open(file);
    auto [rc, out] =
        run("cd '" + oracle.string() + "' && node dump_gguf.mjs '" + file.string() + "' 2>&1");
    INFO(out);
    REQUIRE(rc == 0);
    nlohmann::json theirs = nlohmann::json::parse(out);

    CHECK(theirs["tensorDataOffset"].get<std::string>() == std::to_string(ours.data_offset()));
    const nlohmann::json& md = theirs["metadata"];
    CHECK(md["version"]["value"] == 3);
    CHECK(md["kv_count"]["value"] == std::to_string(ours.metadata().size()));
    CHECK(md["tensor_count"]["value"] == std::to_string(ours.tensors().size()));
    for (const auto& [key, value] : ours.metadata()) {
        CAPTURE(key);
        REQUIRE(md.contains(key));
        CHECK(md[key]["type"] == static_cast<uint32_t>(value.type));
        if (value.is_array())
            CHECK(md[key]["subType"] == static_cast<uint32_t>(value.as_array().element_type));
        check_value(value, md[key]["value"], key);
    }
    const nlohmann::json& tensors = theirs["tensors"];
    REQUIRE(tensors.size() == ours.tensors().size());
    for (size_t i = 0; i < tensors.size(); ++i) {
        const TensorInfo& t = ours.tensors()[i];
        CAPTURE(t.name);
        CHECK(tensors[i]["name"] == t.name);
        CHECK(tensors[i]["dtype"] == static_cast<uint32_t>(t.type));
        CHECK(tensors[i]["offset"] == std::to_string(t.offset));
        REQUIRE(tensors[i]["shape"].size() == t.dims.size());
        for (size_t d = 0; d < t.dims.size(); ++d)
            CHECK(tensors[i]["shape"][d] == std::to_string(t.dims[d]));
    }
    fs::remove(file);
}
