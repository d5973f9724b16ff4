#include "gui/model_jobs.hpp"

#include <fmt/format.h>

#include "calib/quantize_job.hpp"
#include "core/atomic_file.hpp"
#include "core/error.hpp"
#include "eval/quality_eval.hpp"
#include "eval/quality_table.hpp"

namespace mq::gui {

namespace fs = std::filesystem;

fs::path default_checkpoint_path(const fs::path& model) {
    fs::path stem = model.filename();
    if (stem.extension() == ".gguf") stem.replace_extension();
    return model.parent_path() / (stem.string() + "-mobiquant.gguf");
}

bool ModelJobs::start_quantize(const QuantizeRequest& r) {
    return quantize.start([r](const JobProgressFn& progress, const std::atomic<bool>* cancel) {
        calib::QuantizeOptions o;
        o.model = r.model;
        o.out = r.out;
        o.tokens = r.tokens;
        o.calibration_text = read_text_file(r.calibration);
        o.calibration_name = r.calibration.filename().string();
        progress({"checking the inputs", 0, -1});
        calib::check_quantize_inputs(o);
        calib::quantize(o, progress, cancel);
        return r.out.string();
    });
}

bool ModelJobs::start_eval(const EvalRequest& r) {
    return eval.start([this, r](const JobProgressFn& progress, const std::atomic<bool>* cancel) {
        eval::EvalOptions o;
        o.model = r.model;
        o.text = read_text_file(r.text);
        o.text_name = r.text.filename().string();
        if (!r.calibration.empty() && fs::exists(r.calibration))
            o.calibration_text = read_text_file(r.calibration);
        o.max_tokens = r.tokens;
        eval::QualityTable table = eval::run_eval(device_, o, progress, cancel);
        fs::path out = eval::quality_table_path(r.model);
        eval::save_quality_table(table, out);
        return out.string();
    });
}

}  // namespace mq::gui
