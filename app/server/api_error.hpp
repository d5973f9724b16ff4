#pragma once
// An OpenAI-style error: an HTTP status and {"error": {"message", "type", "param", "code"}}.
#include <nlohmann/json.hpp>

#include <stdexcept>
#include <string>

namespace mq::server {

struct ApiError : std::runtime_error {
    int status;
    std::string type, param, code;
    ApiError(int status, std::string message, std::string param = {}, std::string code = {},
             std::string type = "invalid_request_error")
        : std::runtime_error(std::move(message)),
          status(status),
          type(std::move(type)),
          param(std::move(param)),
          code(std::move(code)) {}

    nlohmann::json to_json() const {
        auto optional = [](const std::string& s) {
            return s.empty() ? nlohmann::json(nullptr) : nlohmann::json(s);
        };
        return {{"error",
                 {{"message", what()},
                  {"type", type},
                  {"param", optional(param)},
                  {"code", optional(code)}}}};
    }
};

}  // namespace mq::server
