#pragma once
// The "stop" strings of a request over streamed text: push() returns the text that can be sent
// now, holding back an ending that may still grow into a stop string; on a match the text
// before it is released and everything from it on is dropped.
#include <string>
#include <string_view>
#include <vector>

namespace mq::server {

class StopText {
  public:
    explicit StopText(std::vector<std::string> stops) : stops_(std::move(stops)) {}
    std::string push(std::string_view text);
    std::string flush();  // the held-back ending once the stream ends without a match
    bool matched() const { return matched_; }

  private:
    std::vector<std::string> stops_;
    std::string held_;
    bool matched_ = false;
};

}  // namespace mq::server
