#include "tokenizer/bpe.hpp"

#include <queue>

namespace mq::tok {

namespace {
struct Candidate {
    double score;
    int32_t left, right;
    uint32_t left_len, right_len;  // the symbols' lengths when queued: stale if they changed
    int32_t result;
};
struct Lower {  // priority_queue puts the "largest" on top: best score, then smallest left
    bool operator()(const Candidate& a, const Candidate& b) const {
        if (a.score != b.score) return a.score < b.score;
        return a.left > b.left;
    }
};
}  // namespace

void bpe_merge(std::vector<BpeSymbol>& symbols, const BpePairLookup& lookup,
               const BpeMergeObserver& observer) {
    if (symbols.size() < 2) return;
    std::vector<Candidate> storage;
    storage.reserve(symbols.size());
    std::priority_queue<Candidate, std::vector<Candidate>, Lower> queue(Lower{},
                                                                        std::move(storage));
    auto consider = [&](int32_t left, int32_t right) {
        if (left < 0 || right < 0 || symbols[left].frozen || symbols[right].frozen) return;
        const BpeMerge m = lookup(symbols[left], symbols[right]);
        if (!m.found) return;
        queue.push({m.score, left, right, symbols[left].len, symbols[right].len, m.result});
    };
    for (size_t i = 1; i < symbols.size(); ++i)
        consider(static_cast<int32_t>(i - 1), static_cast<int32_t>(i));

    while (!queue.empty()) {
        const Candidate top = queue.top();
        queue.pop();
        BpeSymbol& l = symbols[top.left];
        BpeSymbol& r = symbols[top.right];
        if (l.len == 0 || r.len == 0 || l.len != top.left_len || r.len != top.right_len ||
            l.next != top.right)
            continue;  // one side changed since this pair was queued
        const uint32_t left_len = l.len;
        l.len += r.len;
        l.id = top.result;
        l.next = r.next;
        if (r.next >= 0) symbols[r.next].prev = top.left;
        r.len = 0;
        r.prev = r.next = -1;
        if (observer) observer(l, left_len);
        consider(l.prev, top.left);
        consider(top.left, l.next);
    }
}

}  // namespace mq::tok
