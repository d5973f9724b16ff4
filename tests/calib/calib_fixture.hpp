#pragma once
// A tiny model quantized once by the real `quantize` job, shared by the calibration tests (the
// job takes a few seconds; every test case reads the same checkpoint). The file is reused by the
// suite's later processes, but only by the same test binary (the folder is named after its path)
// and never when the binary is newer than the file: a rebuilt quantize job makes a new one.
#include <filesystem>
#include <functional>
#include <string>

#include <fmt/format.h>

#include "calib/quantize_job.hpp"
#include "support/tiny_model.hpp"

namespace mq::test {

inline std::string calibration_text() {
    std::string text;
    const char* lines[] = {
        "the quick brown fox jumps over the lazy dog. ",
        "a stitch in time saves nine, said the old tailor to his son. ",
        "it is a truth universally acknowledged that a single man wants a wife. ",
        "rain fell on the hills and the river rose over the stones. ",
    };
    for (int i = 0; i < 12; ++i) text += lines[i % 4];
    return text;
}

inline std::string heldout_text() {
    return "she walked along the shore at dawn, counting the boats that came home with the tide. "
           "the bells rang twice and the market opened to a crowd of farmers and their carts. ";
}

struct QuantizedTinyModel {
    std::filesystem::path dir, source, checkpoint;
    QuantizedTinyModel() {
        namespace fs = std::filesystem;
        const fs::path exe = fs::read_symlink("/proc/self/exe");
        dir = fs::temp_directory_path() /
              fmt::format("mq_test_calib_{:x}", std::hash<std::string>{}(exe.string()));
        fs::create_directories(dir);
        source = write_tiny_model({}, dir);
        checkpoint = dir / "tiny-mobiquant.gguf";
        if (fs::exists(checkpoint) && fs::last_write_time(checkpoint) >= fs::last_write_time(exe))
            return;
        calib::QuantizeOptions o;
        o.model = source;
        o.out = checkpoint;
        o.calibration_text = calibration_text();
        o.calibration_name = "test text";
        o.tokens = 384;
        o.window = 64;
        o.router_epochs = 30;
        calib::quantize(o);
    }
};

inline const QuantizedTinyModel& quantized_tiny_model() {
    static QuantizedTinyModel m;
    return m;
}

}  // namespace mq::test
