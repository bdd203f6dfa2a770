// How the io_uring backend cuts a batch of IoOps into chains: the ordering
// rule of FileSystem::Submit expressed as IOSQE_IO_LINK chains. Pure planning,
// no liburing, so it can be tested on its own.
//
// For each file that has a kSync in the batch, every write and sync on it up
// to its last sync forms one chain, in span order. Linked SQEs run one after
// another, so a sync starts only after every earlier write on its file has
// finished. One chain per file rather than one per sync: in W1 S1 W2 S2 the
// second sync must wait for W1 as well, and linking gives that for free.
// Every read, and every write after its file's last sync, is a chain of one
// and runs concurrently with everything else.
// Thread-safety: a pure function.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

#include "io/file_system.h"

namespace warbler::io {

// Indices into `ops`, one vector per chain, each in span order. Chains are
// listed in the order of their first op. Every op appears in exactly one chain.
std::vector<std::vector<uint32_t>> PlanChains(std::span<const IoOp> ops);

}  // namespace warbler::io
