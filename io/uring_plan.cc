#include "io/uring_plan.h"

#include <unordered_map>

namespace warbler::io {

std::vector<std::vector<uint32_t>> PlanChains(std::span<const IoOp> ops) {
  std::unordered_map<const File*, size_t> last_sync;
  for (size_t i = 0; i < ops.size(); ++i) {
    if (ops[i].kind == OpKind::kSync) last_sync[ops[i].file] = i;
  }
  std::vector<std::vector<uint32_t>> chains;
  std::unordered_map<const File*, size_t> file_chain;  // file -> index in `chains`
  for (size_t i = 0; i < ops.size(); ++i) {
    const IoOp& op = ops[i];
    auto sync = last_sync.find(op.file);
    const bool linked = op.kind != OpKind::kRead && sync != last_sync.end() && i <= sync->second;
    if (!linked) {
      chains.push_back({static_cast<uint32_t>(i)});
      continue;
    }
    auto [it, inserted] = file_chain.try_emplace(op.file, chains.size());
    if (inserted) chains.emplace_back();
    chains[it->second].push_back(static_cast<uint32_t>(i));
  }
  return chains;
}

}  // namespace warbler::io
