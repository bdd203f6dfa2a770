// FaultFileSystem: namespace tracking, rules and Crash (see fault_fs.h).
#include "io/fault_fs.h"

#include <algorithm>
#include <shared_mutex>

#include "io/fault_fs_internal.h"

namespace warbler::io {

std::string FaultParentDir(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

namespace {

std::string_view FaultOpName(FaultOp op) {
  static constexpr std::string_view kNames[kFaultOpCount] = {
      "read", "write", "sync", "open", "rename", "remove", "syncdir", "allocate", "truncate"};
  return kNames[static_cast<size_t>(op)];
}

// Directory argument in the form FaultParentDir produces.
std::string CanonicalDir(std::string dir) {
  while (dir.size() > 1 && dir.back() == '/') dir.pop_back();
  return dir.empty() ? "." : dir;
}

bool IsReservedName(std::string_view name) { return name.starts_with(kFaultReservedPrefix); }

class FaultDirLock final : public DirLock {
 public:
  explicit FaultDirLock(std::shared_ptr<FaultFileSystem::LockSlot> slot) : slot_(std::move(slot)) {}
  ~FaultDirLock() override {
    std::lock_guard lock(slot_->mu);
    slot_->inner.reset();
  }

 private:
  std::shared_ptr<FaultFileSystem::LockSlot> slot_;
};

}  // namespace

FaultFileSystem::FaultFileSystem(std::unique_ptr<FileSystem> inner, uint64_t seed)
    : FaultFileSystem(inner.get(), seed) {
  owned_ = std::move(inner);
}

FaultFileSystem::FaultFileSystem(FileSystem* inner, uint64_t seed)
    : inner_(inner), name_("fault(" + std::string(inner->name()) + ")"), rng_(seed) {}

FaultFileSystem::~FaultFileSystem() {
  std::lock_guard lock(mu_);
  for (auto& [id, node] : nodes_) {
    if (node->live_path.empty() && !node->inner_path.empty()) {
      (void)inner_->Remove(node->inner_path);
    }
  }
  nodes_.clear();  // closes the aux handles while inner_ is still alive
}

std::shared_lock<std::shared_mutex> FaultFileSystem::OpLock() const {
  std::lock_guard gate(gate_mu_);
  return std::shared_lock(crash_mu_);
}

// ---- rules and budget ----

uint64_t FaultFileSystem::AddRule(FaultRule rule) {
  std::lock_guard lock(rules_mu_);
  const uint64_t id = next_rule_id_++;
  rules_.push_back(RuleEntry{id, std::move(rule)});
  return id;
}

void FaultFileSystem::RemoveRule(uint64_t id) {
  std::lock_guard lock(rules_mu_);
  std::erase_if(rules_, [id](const RuleEntry& e) { return e.id == id; });
}

void FaultFileSystem::ClearRules() {
  std::lock_guard lock(rules_mu_);
  rules_.clear();
}

void FaultFileSystem::SetSpaceBudget(uint64_t bytes) {
  std::lock_guard lock(rules_mu_);
  budget_set_ = true;
  budget_left_ = bytes;
}

void FaultFileSystem::ClearSpaceBudget() {
  std::lock_guard lock(rules_mu_);
  budget_set_ = false;
}

FaultCounters FaultFileSystem::counters() const {
  std::lock_guard lock(rules_mu_);
  return counters_;
}

Status FaultFileSystem::MaybeInject(FaultOp op, const std::string& path, const std::string& path2,
                                    size_t* write_prefix) {
  std::lock_guard lock(rules_mu_);
  const RuleEntry* fired = nullptr;
  for (RuleEntry& e : rules_) {
    const FaultRule& r = e.rule;
    if (r.op != op) continue;
    if (!r.path_filter.empty() && path.find(r.path_filter) == std::string::npos &&
        path2.find(r.path_filter) == std::string::npos) {
      continue;
    }
    ++e.matches;
    bool fire = false;
    switch (r.trigger) {
      case FaultTrigger::kNth: fire = e.matches == r.n; break;
      case FaultTrigger::kFromNth: fire = e.matches >= r.n; break;
      // Drawn for every matching rule, fired or not, so outcomes depend on
      // the call sequence only.
      case FaultTrigger::kProbability: fire = rng_.NextDouble() < r.probability; break;
    }
    if (fire && fired == nullptr) fired = &e;
  }
  if (fired == nullptr) return Status::Ok();
  ++counters_.injected;
  ++counters_.injected_by_op[static_cast<size_t>(op)];
  if (write_prefix != nullptr) *write_prefix = fired->rule.write_prefix_bytes;
  std::string msg = std::string(FaultOpName(op)) + " " + path + ": injected fault (rule " +
                    std::to_string(fired->id) + ")";
  if (fired->rule.error == FaultError::kNoSpace) return Status::NoSpace(std::move(msg));
  return Status::IOError(std::move(msg));
}

uint64_t FaultFileSystem::TakeBudget(uint64_t len, bool consume) {
  std::lock_guard lock(rules_mu_);
  if (!budget_set_) return len;
  const uint64_t fit = std::min(len, budget_left_);
  if (consume) budget_left_ -= fit;
  if (fit < len) ++counters_.budget_refusals;
  return fit;
}

// ---- namespace ----

std::shared_ptr<FaultFileSystem::Node> FaultFileSystem::Track(const std::string& path) {
  auto it = by_path_.find(path);
  if (it != by_path_.end()) return nodes_.at(it->second->id);
  // First sight of a file that already exists: durable as it is.
  auto node = std::make_shared<Node>();
  node->id = next_id_++;
  node->live_path = node->inner_path = node->durable_path = path;
  nodes_.emplace(node->id, node);
  by_path_[path] = node.get();
  return node;
}

std::string FaultFileSystem::TrashPath(const std::string& path, uint64_t id) const {
  return FaultParentDir(path) + "/" + std::string(kFaultReservedPrefix) + "trash-" +
         std::to_string(id);
}

Status FaultFileSystem::MoveToTrash(const std::shared_ptr<Node>& node) {
  const std::string trash = TrashPath(node->inner_path, node->id);
  WB_RETURN_IF_ERROR(inner_->Rename(node->inner_path, trash));
  by_path_.erase(node->live_path);
  node->live_path.clear();
  node->inner_path = trash;
  return Status::Ok();
}

Status FaultFileSystem::Unlink(const std::shared_ptr<Node>& node) {
  WB_RETURN_IF_ERROR(inner_->Remove(node->inner_path));
  if (!node->live_path.empty()) by_path_.erase(node->live_path);
  node->live_path.clear();
  node->inner_path.clear();
  nodes_.erase(node->id);  // open Files keep the node; their changes no longer matter
  return Status::Ok();
}

void FaultFileSystem::RenameTree(const std::string& from, const std::string& to) {
  const std::string prefix = from + "/";
  auto move = [&](std::string& p) {
    if (p.starts_with(prefix)) p = to + p.substr(from.size());
  };
  by_path_.clear();
  for (auto& [id, node] : nodes_) {
    move(node->live_path);
    move(node->inner_path);
    move(node->durable_path);  // directory renames are durable at once (see header)
    if (!node->live_path.empty()) by_path_[node->live_path] = node.get();
  }
}

Result<std::unique_ptr<File>> FaultFileSystem::Open(const std::string& path,
                                                    const OpenOptions& options) {
  WB_RETURN_IF_ERROR(MaybeInject(FaultOp::kOpen, path));
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(bool existed, inner_->Exists(path));
  OpenOptions inner_options = options;
  inner_options.truncate = false;  // done below, with an undo record
  WB_ASSIGN_OR_RETURN(std::unique_ptr<File> inner_file, inner_->Open(path, inner_options));
  std::shared_ptr<Node> node = Track(path);
  if (!existed) node->durable_path.clear();  // created: durable only after SyncDir
  if (!options.read_only || options.truncate) WB_RETURN_IF_ERROR(EnsureAux(*node));
  if (options.truncate && existed) {
    std::lock_guard node_lock(node->mu);
    WB_RETURN_IF_ERROR(TruncateTracked(*node, node->aux.get(), 0));
  }
  return std::unique_ptr<File>(std::make_unique<FaultFile>(
      this, path, std::move(inner_file), std::move(node), generation_, options.read_only));
}

Result<std::unique_ptr<IoQueue>> FaultFileSystem::NewQueue() {
  if (overlapping_queues_.load()) return NewWorkerIoQueue(this);
  return FileSystem::NewQueue();
}

Status FaultFileSystem::Submit(std::span<IoOp> ops) {
  WB_RETURN_IF_ERROR(ValidateBatch(ops, this));
  std::shared_lock crash_lock = OpLock();
  // One op at a time in span order: the ordering rule holds trivially and
  // each write pairs with its undo record.
  return RunOpsInOrder(ops, [this](IoOp& op) { RunOp(op); });
}

Status FaultFileSystem::CreateDirs(const std::string& dir) {
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  return inner_->CreateDirs(dir);
}

Status FaultFileSystem::SyncDir(const std::string& dir_arg) {
  WB_RETURN_IF_ERROR(MaybeInject(FaultOp::kSyncDir, dir_arg));
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  WB_RETURN_IF_ERROR(inner_->SyncDir(dir_arg));
  const std::string dir = CanonicalDir(dir_arg);
  // Entries of `dir` now durable as they are: first drop the names that
  // moved away or were removed, then record the current ones.
  for (auto& [id, node] : nodes_) {
    if (!node->durable_path.empty() && FaultParentDir(node->durable_path) == dir &&
        node->durable_path != node->live_path) {
      node->durable_path.clear();
    }
  }
  for (auto& [id, node] : nodes_) {
    if (!node->live_path.empty() && FaultParentDir(node->live_path) == dir) {
      node->durable_path = node->live_path;
    }
  }
  std::vector<std::shared_ptr<Node>> gone;  // removed for good, or clean and unused
  for (auto& [id, node] : nodes_) {
    const bool removed = node->live_path.empty() && node->durable_path.empty();
    bool clean = !node->live_path.empty() && node->durable_path == node->live_path &&
                 node->inner_path == node->live_path && node.use_count() == 1;
    if (clean) {
      std::lock_guard node_lock(node->mu);
      clean = node->undo.empty();
    }
    if (removed || clean) gone.push_back(node);
  }
  for (const std::shared_ptr<Node>& node : gone) {
    if (node->live_path.empty()) {
      WB_RETURN_IF_ERROR(Unlink(node));
    } else {
      by_path_.erase(node->live_path);  // untracked again: durable as it is
      nodes_.erase(node->id);
    }
  }
  return Status::Ok();
}

Status FaultFileSystem::Rename(const std::string& from, const std::string& to) {
  WB_RETURN_IF_ERROR(MaybeInject(FaultOp::kRename, from, to));
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  if (from == to || inner_->List(from).ok()) {  // a directory: durable at once
    WB_RETURN_IF_ERROR(inner_->Rename(from, to));
    if (from != to) RenameTree(from, to);
    return Status::Ok();
  }
  WB_ASSIGN_OR_RETURN(bool from_exists, inner_->Exists(from));
  if (!from_exists) return inner_->Rename(from, to);  // the backend's own error
  std::shared_ptr<Node> node = Track(from);
  // A replaced file goes to the trash, so Crash can undo the replace.
  std::shared_ptr<Node> victim;
  WB_ASSIGN_OR_RETURN(bool to_exists, inner_->Exists(to));
  if (to_exists && !inner_->List(to).ok()) {
    victim = Track(to);
    WB_RETURN_IF_ERROR(MoveToTrash(victim));
  }
  Status s = inner_->Rename(from, to);
  if (!s.ok()) {
    if (victim != nullptr && inner_->Rename(victim->inner_path, to).ok()) {
      victim->live_path = victim->inner_path = to;
      by_path_[to] = victim.get();
    }
    return s;
  }
  by_path_.erase(from);
  node->live_path = node->inner_path = to;
  by_path_[to] = node.get();
  if (victim != nullptr && victim->durable_path.empty()) return Unlink(victim);
  return Status::Ok();
}

Status FaultFileSystem::Remove(const std::string& path) {
  WB_RETURN_IF_ERROR(MaybeInject(FaultOp::kRemove, path));
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  Result<bool> exists = inner_->Exists(path);
  if (!exists.ok() || !*exists || inner_->List(path).ok()) {
    return inner_->Remove(path);  // missing or a directory: the backend's own error
  }
  std::shared_ptr<Node> node = Track(path);
  if (node->durable_path.empty()) return Unlink(node);  // never durable: just gone
  return MoveToTrash(node);
}

Status FaultFileSystem::RemoveDir(const std::string& dir_arg) {
  WB_RETURN_IF_ERROR(MaybeInject(FaultOp::kRemove, dir_arg));
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  Result<std::vector<std::string>> names = inner_->List(dir_arg);
  if (!names.ok()) return inner_->RemoveDir(dir_arg);
  if (!std::all_of(names->begin(), names->end(), IsReservedName)) {
    return inner_->RemoveDir(dir_arg);  // not empty: the backend's own error
  }
  // Removing the directory makes the removal of everything in it durable.
  const std::string dir = CanonicalDir(dir_arg);
  std::vector<std::shared_ptr<Node>> inside;
  for (auto& [id, node] : nodes_) {
    if (!node->durable_path.empty() && FaultParentDir(node->durable_path) == dir) {
      node->durable_path.clear();
    }
    if (!node->inner_path.empty() && FaultParentDir(node->inner_path) == dir) {
      inside.push_back(node);
    }
  }
  for (const std::shared_ptr<Node>& node : inside) WB_RETURN_IF_ERROR(Unlink(node));
  for (const std::string& name : *names) {  // leftovers of an earlier instance
    (void)inner_->Remove(dir + "/" + name);
  }
  return inner_->RemoveDir(dir_arg);
}

Result<std::vector<std::string>> FaultFileSystem::List(const std::string& dir) {
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  WB_ASSIGN_OR_RETURN(std::vector<std::string> names, inner_->List(dir));
  std::erase_if(names, IsReservedName);
  return names;
}

Result<bool> FaultFileSystem::Exists(const std::string& path) {
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  return inner_->Exists(path);
}

Result<std::unique_ptr<DirLock>> FaultFileSystem::LockDir(const std::string& dir) {
  std::shared_lock crash_lock = OpLock();
  std::lock_guard lock(mu_);
  auto slot = std::make_shared<LockSlot>();
  WB_ASSIGN_OR_RETURN(slot->inner, inner_->LockDir(dir));
  std::erase_if(locks_, [](const std::weak_ptr<LockSlot>& w) { return w.expired(); });
  locks_.push_back(slot);
  return std::unique_ptr<DirLock>(std::make_unique<FaultDirLock>(std::move(slot)));
}

// ---- crash ----

Status FaultFileSystem::Crash(CrashMode mode, uint64_t seed) {
  std::lock_guard gate(gate_mu_);          // no new op starts
  std::unique_lock crash_lock(crash_mu_);  // waits for in-flight ops
  std::lock_guard lock(mu_);
  ++generation_;  // every File opened before now fails FailedPrecondition
  {
    std::lock_guard rules_lock(rules_mu_);
    ++counters_.crashes;
  }
  for (const std::weak_ptr<LockSlot>& weak : locks_) {
    if (std::shared_ptr<LockSlot> slot = weak.lock()) {
      std::lock_guard slot_lock(slot->mu);
      slot->inner.reset();  // the locking process is gone
    }
  }
  locks_.clear();
  Rng rng(seed);
  for (auto& [id, node] : nodes_) {  // by id: creation order, for replay
    if (node->durable_path.empty()) continue;  // deleted below anyway
    WB_RETURN_IF_ERROR(UndoUnsynced(*node, mode, rng));
  }
  WB_RETURN_IF_ERROR(RestoreNamespace());
  by_path_.clear();
  nodes_.clear();  // what is on disk now is the durable state
  return Status::Ok();
}

Status FaultFileSystem::RestoreNamespace() {
  // Names may have been swapped, so move every misplaced file out of the way
  // before moving any back.
  std::vector<Node*> staged;
  for (auto& [id, node] : nodes_) {
    if (node->inner_path.empty() || node->inner_path == node->durable_path) continue;
    if (node->durable_path.empty()) {
      WB_RETURN_IF_ERROR(inner_->Remove(node->inner_path));
      continue;
    }
    const std::string staging = FaultParentDir(node->inner_path) + "/" +
                                std::string(kFaultReservedPrefix) + "crash-" + std::to_string(id);
    WB_RETURN_IF_ERROR(inner_->Rename(node->inner_path, staging));
    node->inner_path = staging;
    staged.push_back(node.get());
  }
  for (Node* node : staged) {
    WB_RETURN_IF_ERROR(inner_->Rename(node->inner_path, node->durable_path));
    node->inner_path = node->durable_path;
  }
  return Status::Ok();
}

}  // namespace warbler::io
