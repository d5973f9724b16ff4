#include "formats/model_loader.hpp"

#include <fmt/format.h>

#include <algorithm>
#include <cctype>

#include "core/error.hpp"

namespace fs = std::filesystem;

namespace mq {

namespace {

std::string lowercase(std::string s) {
    for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return s;
}

// Trailing dimensions of 1 carry no information (a norm vector may be stored as [n, 1]).
std::vector<uint64_t> squeezed(std::vector<uint64_t> dims) {
    while (dims.size() > 1 && dims.back() == 1) dims.pop_back();
    return dims;
}

std::string shape_in_source_order(const std::vector<uint64_t>& dims, bool hf) {
    std::vector<uint64_t> d = dims;
    if (hf) std::reverse(d.begin(), d.end());
    return fmt::format("[{}]", fmt::join(d, ", "));
}

}  // namespace

uint64_t ModelTensor::n_elements() const {
    uint64_t n = 1;
    for (uint64_t d : dims) n *= d;
    return n;
}

std::string ModelTensor::shape_string() const {
    return fmt::format("[{}]", fmt::join(dims, ", "));
}

LoadedModel LoadedModel::open(const fs::path& path) {
    std::error_code ec;
    if (!fs::exists(path, ec)) fail("model {} does not exist", path.string());
    LoadedModel m;
    m.path_ = path;
    if (fs::is_directory(path, ec)) {
        auto hf = std::make_shared<HfModelDir>(HfModelDir::open(path));
        std::string name = fs::path(path).lexically_normal().filename().string();
        if (name.empty())
            name = fs::path(path).lexically_normal().parent_path().filename().string();
        m.desc_ = describe_hf_config(hf->config(), hf->generation_config(), name);
        for (const std::string& source : hf->tensor_names()) {
            auto ref = *hf->find_tensor(source);
            ModelTensor t;
            t.source_name = source;
            auto canonical = canonical_from_hf(source);
            // A tied model may still ship lm_head.weight: keep it, but not as the output head.
            t.canonical = canonical && !(m.desc_.tied_output && *canonical == "output.weight");
            t.name = t.canonical ? *canonical : source;
            t.dims.assign(ref.info->shape.rbegin(), ref.info->shape.rend());
            t.type = lowercase(safetensors::dtype_name(ref.info->dtype));
            t.ggml_type = safetensors::ggml_type(ref.info->dtype);
            t.bytes = ref.info->bytes;
            m.tensors_.push_back(std::move(t));
        }
        m.hf_ = std::move(hf);
    } else {
        if (path.extension() == ".safetensors" || path.filename() == "config.json")
            fail(
                "{} is part of a Hugging Face model: give the directory that holds config.json "
                "and the weights",
                path.string());
        auto g = std::make_shared<gguf::File>(gguf::File::open(path));
        m.desc_ = describe_gguf(*g);
        for (const gguf::TensorInfo& info : g->tensors()) {
            ModelTensor t;
            t.name = t.source_name = info.name;
            t.dims = info.dims;
            t.type = gguf::tensor_type_name(info.type);
            t.ggml_type = info.type;
            t.bytes = info.bytes;
            m.tensors_.push_back(std::move(t));
        }
        m.gguf_ = std::move(g);
    }
    if (m.desc_.name.empty()) m.desc_.name = path.stem().string();
    m.index_and_check();
    return m;
}

void LoadedModel::index_and_check() {
    const bool hf = hf_ != nullptr;
    std::unordered_map<std::string, size_t> by_name;
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (!by_name.emplace(tensors_[i].name, i).second)
            fail("model {}: two tensors map to '{}' ({} and {})", path_.string(), tensors_[i].name,
                 tensors_[by_name[tensors_[i].name]].source_name, tensors_[i].source_name);
    }
    // Canonical tensors first, in the order the description gives; then the rest as found.
    std::vector<ModelTensor> ordered;
    std::vector<bool> taken(tensors_.size(), false);
    std::vector<std::string> missing;
    for (const TensorSpec& spec : expected_tensors(desc_)) {
        auto it = by_name.find(spec.name);
        if (it == by_name.end()) {
            if (spec.required) missing.push_back(hf ? hf_from_canonical(spec.name) : spec.name);
            continue;
        }
        ModelTensor& t = tensors_[it->second];
        if (squeezed(t.dims) != squeezed(spec.dims))
            fail("model {}: tensor '{}' has shape {} but the {} implies {}", path_.string(),
                 t.source_name, shape_in_source_order(t.dims, hf), hf ? "config.json" : "metadata",
                 shape_in_source_order(spec.dims, hf));
        if (!t.ggml_type)
            fail("model {}: tensor '{}' has dtype {}, which the engine cannot use", path_.string(),
                 t.source_name, t.type);
        t.canonical = true;
        taken[it->second] = true;
        ordered.push_back(std::move(t));
    }
    if (!missing.empty()) {
        std::string list;
        for (size_t i = 0; i < missing.size() && i < 8; ++i) list += (i ? ", " : "") + missing[i];
        if (missing.size() > 8) list += fmt::format(", ... ({} in all)", missing.size());
        fail("model {}: missing tensors: {}", path_.string(), list);
    }
    for (size_t i = 0; i < tensors_.size(); ++i) {
        if (taken[i]) continue;
        tensors_[i].canonical = false;
        tensors_[i].name = tensors_[i].source_name;
        ordered.push_back(std::move(tensors_[i]));
    }
    tensors_ = std::move(ordered);
    index_.clear();
    for (size_t i = 0; i < tensors_.size(); ++i) index_.emplace(tensors_[i].name, i);
}

const ModelTensor* LoadedModel::find(std::string_view name) const {
    auto it = index_.find(std::string(name));
    return it == index_.end() ? nullptr : &tensors_[it->second];
}

const ModelTensor& LoadedModel::get(std::string_view name) const {
    const ModelTensor* t = find(name);
    if (!t) fail("model {}: no tensor '{}'", path_.string(), name);
    return *t;
}

std::span<const std::byte> LoadedModel::bytes(const ModelTensor& t) const {
    if (gguf_) {
        const gguf::TensorInfo* info = gguf_->find_tensor(t.source_name);
        if (!info) fail("model {}: no tensor '{}'", path_.string(), t.source_name);
        return gguf_->tensor_data(*info);
    }
    auto ref = hf_->find_tensor(t.source_name);
    if (!ref) fail("model {}: no tensor '{}'", path_.string(), t.source_name);
    return ref->file->tensor_data(*ref->info);
}

std::vector<float> LoadedModel::to_f32(const ModelTensor& t) const {
    if (gguf_) {
        const gguf::TensorInfo* info = gguf_->find_tensor(t.source_name);
        if (!info) fail("model {}: no tensor '{}'", path_.string(), t.source_name);
        return gguf_->tensor_to_f32(*info);
    }
    auto ref = hf_->find_tensor(t.source_name);
    if (!ref) fail("model {}: no tensor '{}'", path_.string(), t.source_name);
    return ref->file->tensor_to_f32(*ref->info);
}

std::vector<float> LoadedModel::rows_to_f32(const ModelTensor& t,
                                            std::span<const uint32_t> rows) const {
    if (t.dims.size() != 2) fail("tensor {} {} is not a matrix", t.name, t.shape_string());
    const uint64_t width = t.dims[0], n_rows = t.dims[1];
    for (uint32_t r : rows)
        if (r >= n_rows) fail("row {} of tensor {} {}: out of range", r, t.name, t.shape_string());
    std::vector<float> out(rows.size() * width);
    if (!t.ggml_type || !gguf::can_dequantize(*t.ggml_type)) {
        std::vector<float> all = to_f32(t);
        for (size_t i = 0; i < rows.size(); ++i)
            std::copy_n(all.data() + rows[i] * width, width, out.data() + i * width);
        return out;
    }
    const uint64_t row_bytes = gguf::tensor_bytes(*t.ggml_type, width);
    std::span<const std::byte> data = bytes(t);
    if (data.size() != row_bytes * n_rows)
        fail("tensor {} holds {} bytes; {} {} needs {}", t.name, data.size(), t.shape_string(),
             t.type, row_bytes * n_rows);
    for (size_t i = 0; i < rows.size(); ++i)
        gguf::dequantize(*t.ggml_type, data.subspan(rows[i] * row_bytes, row_bytes),
                         std::span<float>(out.data() + i * width, width));
    return out;
}

void LoadedModel::drop_pages(const ModelTensor& t) const {
    if (gguf_) {
        if (const gguf::TensorInfo* info = gguf_->find_tensor(t.source_name))
            gguf_->drop_pages(*info);
        return;
    }
    if (auto ref = hf_->find_tensor(t.source_name)) ref->file->drop_pages(*ref->info);
}

uint64_t LoadedModel::parameter_count() const {
    uint64_t n = 0;
    if (desc_.mobiquant) {
        // A checkpoint stores each linear as 2-bit planes packed in I32 words, plus scales and
        // routers: count the weights of the model it was made from, as its description implies.
        for (const TensorSpec& spec : expected_tensors(desc_)) {
            uint64_t elements = 1;
            for (uint64_t d : spec.dims) elements *= d;
            n += elements;
        }
        return n;
    }
    for (const ModelTensor& t : tensors_)  // a tied model's leftover lm_head is not a parameter
        if (t.canonical || t.source_name != "lm_head.weight") n += t.n_elements();
    return n;
}

}  // namespace mq
