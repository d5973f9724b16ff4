#pragma once
// The merge loop both BPE kinds share: symbols in a doubly linked list over a work string,
// candidate pairs in a priority queue (highest score first, leftmost on ties), stale
// candidates skipped when popped. O(n log n) in the number of symbols.
#include <cstdint>
#include <functional>
#include <string_view>
#include <vector>

namespace mq::tok {

struct BpeSymbol {
    uint32_t start = 0, len = 0;  // bytes of the work string; len 0 = merged away
    int32_t id = -1;              // token id when known, else -1
    int32_t prev = -1, next = -1;
    bool frozen = false;  // never merged (SentencePiece user-defined pieces)
};

// What merging two adjacent symbols would give: found=false when the pair does not merge.
struct BpeMerge {
    bool found = false;
    double score = 0;     // higher merges first
    int32_t result = -1;  // id of the merged token
};

using BpePairLookup = std::function<BpeMerge(const BpeSymbol& left, const BpeSymbol& right)>;
// Called after each merge with the merged symbol and the two parts' (start, len), so callers
// can remember how an "unused" piece was made (SentencePiece re-splits those).
using BpeMergeObserver = std::function<void(const BpeSymbol& merged, uint32_t left_len)>;

// Runs the merges in place; afterwards follow `next` from index 0 (symbols with len 0 are gone).
void bpe_merge(std::vector<BpeSymbol>& symbols, const BpePairLookup& lookup,
               const BpeMergeObserver& observer = nullptr);

}  // namespace mq::tok
