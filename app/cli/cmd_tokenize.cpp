// mobiquant tokenize: text on stdin -> token ids on stdout (or ids -> text with --decode), with
// the tokenizer of a GGUF file, a Hugging Face model directory or a SentencePiece .model.
#include <cstdio>
#include <iostream>
#include <iterator>
#include <string>

#include "cli/command.hpp"
#include "core/error.hpp"
#include "tokenizer/tokenizer.hpp"
#include "tokenizer/unicode.hpp"

namespace {

struct Options {
    std::string model;
    bool decode = false;
    bool no_bos = false;
    bool bos = false;
    bool eos = false;
    bool no_parse_special = false;
    bool show_special = false;
    bool pieces = false;
};

std::string read_stdin() {
    std::ios::sync_with_stdio(false);
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
}

int run(const Options& o) {
    mq::tok::TokenizerSpec spec = mq::tok::load_tokenizer_spec(o.model);
    if (o.no_bos) spec.add_bos = false;
    if (o.bos) spec.add_bos = true;
    if (o.eos) spec.add_eos = true;
    const mq::tok::Tokenizer tokenizer(std::move(spec));
    const std::string input = read_stdin();

    if (o.decode) {
        std::vector<int32_t> ids;
        std::string word;
        auto flush = [&] {
            if (word.empty()) return;
            size_t used = 0;
            long long v = 0;
            try {
                v = std::stoll(word, &used);
            } catch (const std::exception&) {
                used = 0;
            }
            if (used != word.size() || v < 0 || v >= tokenizer.n_vocab())
                mq::fail("\"{}\" is not a token id of this vocabulary (0..{})", word,
                         tokenizer.n_vocab() - 1);
            ids.push_back(static_cast<int32_t>(v));
            word.clear();
        };
        for (char c : input) {
            if (c == ' ' || c == '\n' || c == '\t' || c == '\r' || c == ',' || c == '[' || c == ']')
                flush();
            else
                word += c;
        }
        flush();
        const std::string text = tokenizer.decode(ids, {.skip_special = !o.show_special});
        std::fwrite(text.data(), 1, text.size(), stdout);
        return 0;
    }

    const auto ids = tokenizer.encode(input, {.parse_special = !o.no_parse_special});
    if (o.pieces) {
        for (int32_t id : ids)
            std::printf("%d\t%s\n", id, mq::tok::utf8_sanitize(tokenizer.token_text(id)).c_str());
        return 0;
    }
    std::string line;
    for (size_t i = 0; i < ids.size(); ++i) {
        if (i) line += ' ';
        line += std::to_string(ids[i]);
    }
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stdout);
    return 0;
}

mq::cli::Registration reg{
    "tokenize",
    "Tokenize text from stdin, byte for byte (a trailing newline counts: use printf or echo -n); "
    "--decode turns ids back into text",
    [](CLI::App& cmd) {
        auto o = std::make_shared<Options>();
        cmd.add_option("--model,-m", o->model,
                       "GGUF file, Hugging Face model directory (tokenizer.json) or "
                       "SentencePiece .model file")
            ->required();
        cmd.add_flag("--decode,-d", o->decode,
                     "Read token ids (separated by spaces, commas or newlines) and print the text");
        cmd.add_flag("--no-bos", o->no_bos, "Do not add BOS even if the vocabulary asks for it");
        cmd.add_flag("--bos", o->bos, "Add BOS even if the vocabulary does not ask for it");
        cmd.add_flag("--eos", o->eos, "Add EOS at the end");
        cmd.add_flag("--no-parse-special", o->no_parse_special,
                     "Tokenize control-token text such as <|eot_id|> as plain text");
        cmd.add_flag(
            "--show-special", o->show_special,
            "With --decode: print control tokens (<s>, <|eot_id|>) instead of hiding them");
        cmd.add_flag("--pieces", o->pieces, "Print one \"id<TAB>token\" line per token");
        return [o] { return run(*o); };
    }};

}  // namespace
