#pragma once
// The long jobs the Models and Quality panels start: quantize a plain model into a MoBiQuant
// checkpoint, and run the eval job that makes a checkpoint's quality table. Each runs on its own
// thread (BackgroundJob) through the engine's job API; the UI only reads their status.
#include <cstdint>
#include <filesystem>
#include <string>

#include "gui/background_job.hpp"
#include "gui/server_job.hpp"

namespace mq::vk {
class Context;
}

namespace mq::gui {

// "dir/name.gguf" -> "dir/name-mobiquant.gguf"
std::filesystem::path default_checkpoint_path(const std::filesystem::path& model);

struct QuantizeRequest {
    std::filesystem::path model, out, calibration;
    uint32_t tokens = 2048;
};

struct EvalRequest {
    std::filesystem::path model, text, calibration;
    uint64_t tokens = 2048;  // scored per configuration
};

class ModelJobs {
  public:
    explicit ModelJobs(const rt::ComputeDevice& device) : device_(device) {}
    const rt::ComputeDevice& device() const { return device_; }  // where models run

    // Reads the calibration text, checks the inputs (fails in milliseconds on bad ones), then
    // quantizes. The result text is the checkpoint's path.
    bool start_quantize(const QuantizeRequest& request);
    // Runs the eval job and saves its table beside the model (eval::quality_table_path).
    bool start_eval(const EvalRequest& request);

    BackgroundJob quantize{"quantize"};
    BackgroundJob eval{"eval"};
    ServerJob server;  // the OpenAI-compatible server on a model of its own

  private:
    rt::ComputeDevice device_;
};

}  // namespace mq::gui
