// formats_asan_check DIR: runs every file of the malformed corpus through the readers. Built
// with AddressSanitizer and UBSan, so an out-of-bounds read or undefined behaviour aborts.
// Exit status 0 only if every file gives an mq::Error containing its expected text.
#include <cstdio>

#include "corpus.hpp"

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: formats_asan_check CORPUS_DIR\n");
        return 2;
    }
    int failures = 0;
    std::vector<corpus::Entry> entries = corpus::read_manifest(argv[1]);
    for (const corpus::Entry& e : entries) {
        try {
            corpus::load_fully(std::filesystem::path(argv[1]) / e.file);
            std::printf("FAIL %s: accepted\n", e.file.c_str());
            ++failures;
        } catch (const mq::Error& err) {
            if (std::string(err.what()).find(e.expect) == std::string::npos) {
                std::printf("FAIL %s: '%s' lacks '%s'\n", e.file.c_str(), err.what(),
                            e.expect.c_str());
                ++failures;
            }
        }
    }
    std::printf("%zu files, %d failures\n", entries.size(), failures);
    return failures == 0 && !entries.empty() ? 0 : 1;
}
