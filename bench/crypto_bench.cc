// Encryption and compression micro-benchmarks (issue 5; docs/security.md).
//
//   Seal/Open            AES-256-GCM (engine/crypto/aead.h) of 4, 16 and 64
//                        KiB payloads with a 56-byte AAD, as a batch uses it.
//   BatchFinish          BatchBuilder::Finish of a batch of IM-1-like chat
//                        records (~200-byte bodies of words), with zstd on/off
//                        and encryption on/off: the per-batch write-path cost.
//   BatchDecode          DecodeBatch of the same batches: the read-path cost.
//   SmallBatchZstd       zstd level 1 of the encoded records of batches of 1,
//                        8, 64 and 256 messages, without and with a 16 KiB
//                        dictionary trained on 4000 other messages: what a
//                        dictionary buys when group commit makes small batches.
//   DictBatchFinish/     BatchBuilder::Finish / DecodeBatch of batches of 1, 8,
//   DictBatchDecode      32 and 256 messages, without and with the dictionary
//                        the store trains (dict::DictionaryRegistry with its
//                        defaults: 256 KiB of sampled records, 16 KiB
//                        dictionary, level 1), encrypted: the end-to-end cost
//                        and ratio of StoreOptions::compression_dictionaries.
// Bytes/s count the uncompressed record bytes (the encoded plaintext) for the
// batch benchmarks. Counter `stored_ratio` = stored bytes / plaintext bytes.
// Run: crypto_bench --benchmark_min_time=1
#include <benchmark/benchmark.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "base/coding.h"
#include "base/rng.h"
#include "engine/codec/zstd_codec.h"
#include "engine/codec/zstd_dict.h"
#include "engine/crypto/aead.h"
#include "engine/crypto/batch_cipher.h"
#include "engine/crypto/keyring.h"
#include "engine/dict/dictionary_registry.h"
#include "engine/log/batch.h"
#include "io/mem_fs.h"

namespace warbler::engine {
namespace {

[[noreturn]] void Die(const char* what, const Status& s) {
  std::fprintf(stderr, "crypto_bench: %s: %s\n", what, s.ToString().c_str());
  std::exit(1);
}

void BM_Seal(benchmark::State& state) {
  const auto key = crypto::Key::Random();
  std::vector<std::byte> data(static_cast<size_t>(state.range(0)), std::byte{0x42});
  std::array<std::byte, 56> aad{};
  std::array<std::byte, crypto::kTagSize> tag{};
  uint64_t offset = 0;
  for (auto _ : state) {
    Status s = crypto::Seal(*key, crypto::BatchNonce(1, offset++), aad, data, tag);
    if (!s.ok()) Die("seal", s);
    benchmark::DoNotOptimize(tag.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Seal)->Arg(4 << 10)->Arg(16 << 10)->Arg(64 << 10);

void BM_Open(benchmark::State& state) {
  const auto key = crypto::Key::Random();
  std::vector<std::byte> data(static_cast<size_t>(state.range(0)), std::byte{0x42});
  std::vector<std::byte> out(data.size());
  std::array<std::byte, 56> aad{};
  std::array<std::byte, crypto::kTagSize> tag{};
  const crypto::Nonce nonce = crypto::BatchNonce(1, 0);
  if (Status s = crypto::Seal(*key, nonce, aad, data, tag); !s.ok()) Die("seal", s);
  for (auto _ : state) {
    Status s = crypto::Open(*key, nonce, aad, data, tag, out);
    if (!s.ok()) Die("open", s);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * state.range(0));
}
BENCHMARK(BM_Open)->Arg(4 << 10)->Arg(16 << 10)->Arg(64 << 10);

// ~200-byte chat messages built from a small vocabulary, so they compress as
// chat text does (not as random bytes, not as repeated bytes).
std::vector<Record> ChatRecords(size_t count, uint64_t seed) {
  static const char* kWords[] = {
      "the",    "a",       "to",     "and",    "you",      "I",       "it",       "is",
      "that",   "for",     "on",     "we",     "meeting",  "today",   "tomorrow", "deploy",
      "review", "ok",      "thanks", "please", "can",      "should",  "ticket",   "build",
      "fixed",  "broken",  "lunch",  "coffee", "later",    "release", "branch",   "merge",
      "test",   "failing", "green",  "ship",   "customer", "call",    "doc",      "draft",
      "sounds", "good",    "great",  "sure",   "no",       "yes",     "maybe",    "when",
      "where",  "why",     "how",    "what",   "this",     "week"};
  Rng rng(seed);
  std::vector<Record> out(count);
  uint64_t ts = 1'700'000'000'000'000;
  for (size_t i = 0; i < count; ++i) {
    Record& r = out[i];
    ts += rng.Range(1, 2000);
    r.timestamp_us = ts;
    r.seq = i + 1;
    r.tenant = "tenant-" + std::to_string(rng.Uniform(16));
    r.conversation = "conv-" + std::to_string(rng.Uniform(100000));
    r.sender = "user-" + std::to_string(rng.Uniform(1000000));
    r.client_id = "cid-" + std::to_string(rng.Next());
    while (r.body.size() < 190) {
      r.body += kWords[rng.Uniform(std::size(kWords))];
      r.body += ' ';
    }
    r.body.resize(200);
  }
  return out;
}

// A keyring on an in-memory file system: Lookup/DekFor as in production.
struct Keys {
  std::unique_ptr<io::FileSystem> fs = io::NewMemFileSystem();
  std::unique_ptr<crypto::Keyring> ring;
  std::unique_ptr<crypto::BatchCipher> cipher;
  Keys() {
    if (Status s = fs->CreateDirs("/bench"); !s.ok()) Die("mkdir", s);
    auto kek = crypto::Key::Random();
    crypto::KeyringUuid uuid{};
    auto r = crypto::Keyring::Create(fs.get(), "/bench", uuid, *kek);
    if (!r.ok()) Die("keyring", r.status());
    ring = std::move(*r);
    auto c = crypto::BatchCipher::Create(ring.get());
    if (!c.ok()) Die("cipher", c.status());
    cipher = std::move(*c);
  }
};

constexpr size_t kRecordsPerBatch = 256;  // ~64 KiB of records

void BM_BatchFinish(benchmark::State& state) {
  const bool compress = state.range(0) != 0, encrypt = state.range(1) != 0;
  Keys keys;
  std::vector<Record> records = ChatRecords(kRecordsPerBatch, 1);
  BatchOptions o;
  o.compress = compress;
  o.cipher = encrypt ? keys.cipher.get() : nullptr;
  BatchBuilder builder;
  std::string out;
  uint64_t base = 0, plain = 0, stored = 0;
  for (const Record& r : records) plain += EncodedRecordSize(r, records.front().timestamp_us);
  for (auto _ : state) {
    for (const Record& r : records) builder.Add(&r);
    out.clear();
    auto h = builder.Finish(base, 1, o, &out);
    if (!h.ok()) Die("finish", h.status());
    base = h->next_offset();
    stored = out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain));
  state.counters["stored_ratio"] = static_cast<double>(stored) / static_cast<double>(plain);
  state.SetLabel(std::string(compress ? "zstd" : "raw") + (encrypt ? "+aes-gcm" : ""));
}
BENCHMARK(BM_BatchFinish)->ArgNames({"zstd", "encrypt"})->ArgsProduct({{0, 1}, {0, 1}});

void BM_BatchDecode(benchmark::State& state) {
  const bool compress = state.range(0) != 0, encrypt = state.range(1) != 0;
  Keys keys;
  std::vector<Record> records = ChatRecords(kRecordsPerBatch, 2);
  BatchOptions o;
  o.compress = compress;
  o.cipher = encrypt ? keys.cipher.get() : nullptr;
  BatchBuilder builder;
  for (const Record& r : records) builder.Add(&r);
  std::string batch;
  auto h = builder.Finish(0, 1, o, &batch);
  if (!h.ok()) Die("finish", h.status());
  uint64_t plain = 0;
  for (const Record& r : records) plain += EncodedRecordSize(r, records.front().timestamp_us);
  const crypto::KeySource* source = encrypt ? keys.ring.get() : nullptr;
  for (auto _ : state) {
    auto d = DecodeBatch(AsBytes(batch), source);
    if (!d.ok()) Die("decode", d.status());
    benchmark::DoNotOptimize(d->records.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * plain));
  state.SetLabel(std::string(compress ? "zstd" : "raw") + (encrypt ? "+aes-gcm" : ""));
}
BENCHMARK(BM_BatchDecode)->ArgNames({"zstd", "encrypt"})->ArgsProduct({{0, 1}, {0, 1}});

std::string EncodeAll(const std::vector<Record>& records) {
  std::string out;
  for (const Record& r : records) EncodeRecord(r, records.front().timestamp_us, &out);
  return out;
}

void BM_SmallBatchZstd(benchmark::State& state) {
  const size_t count = static_cast<size_t>(state.range(0));
  const bool use_dict = state.range(1) != 0;
  static const std::unique_ptr<codec::ZstdDictionary> dict = [] {
    std::vector<std::string> samples;
    for (const Record& r : ChatRecords(4000, 9)) samples.push_back(EncodeAll({r}));
    auto bytes = codec::TrainDictionary(samples, 16 << 10);
    if (!bytes.ok()) Die("train", bytes.status());
    auto d = codec::ZstdDictionary::Load(*bytes, 1);
    if (!d.ok()) Die("load", d.status());
    return std::move(*d);
  }();
  // 64 different batches of `count` messages, compressed in turn.
  std::vector<std::string> plain;
  uint64_t plain_bytes = 0, stored_bytes = 0;
  for (uint64_t b = 0; b < 64; ++b) {
    plain.push_back(EncodeAll(ChatRecords(count, 100 + b)));
    plain_bytes += plain.back().size();
  }
  std::string out;
  size_t i = 0;
  for (auto _ : state) {
    out.clear();
    const std::string& in = plain[i++ % plain.size()];
    Status s =
        use_dict ? dict->Compress(AsBytes(in), &out) : codec::ZstdCompress(AsBytes(in), 1, &out);
    if (!s.ok()) Die("compress", s);
    benchmark::DoNotOptimize(out.data());
  }
  for (const std::string& in : plain) {
    out.clear();
    Status s =
        use_dict ? dict->Compress(AsBytes(in), &out) : codec::ZstdCompress(AsBytes(in), 1, &out);
    if (!s.ok()) Die("compress", s);
    stored_bytes += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (plain_bytes / plain.size())));
  state.counters["stored_ratio"] =
      static_cast<double>(stored_bytes) / static_cast<double>(plain_bytes);
}
BENCHMARK(BM_SmallBatchZstd)->ArgNames({"records", "dict"})->ArgsProduct({{1, 8, 64, 256}, {0, 1}});

// A registry that trained one dictionary ("" tenant) from the first 256 KiB
// of records it was offered, exactly as the store does.
dict::DictionaryRegistry* TrainedRegistry() {
  static Keys* keys = new Keys();
  static dict::DictionaryRegistry* registry = [] {
    auto r = dict::DictionaryRegistry::Open(keys->fs.get(), "/bench", {}, keys->ring.get(), {});
    if (!r.ok()) Die("registry", r.status());
    const std::vector<Record> sample = ChatRecords(4000, 9);
    BatchBuilder builder;
    BatchOptions o;
    o.dictionaries = r->get();
    std::string out;
    for (size_t i = 0; i < sample.size() && (*r)->Current("").dict == nullptr; ++i) {
      builder.Add(&sample[i]);
      out.clear();
      if (auto h = builder.Finish(i, 1, o, &out); !h.ok()) Die("finish", h.status());
      if (i % 64 == 0) (*r)->WaitIdle();
    }
    (*r)->WaitIdle();
    if ((*r)->Current("").dict == nullptr) Die("train", Status::Internal("no dictionary"));
    return r->release();
  }();
  return registry;
}

struct DictCase {
  std::vector<std::vector<Record>> batches;  // 64 batches of `count` records
  uint64_t plain = 0;
};

DictCase MakeDictCase(size_t count) {
  DictCase c;
  for (uint64_t b = 0; b < 64; ++b) {
    c.batches.push_back(ChatRecords(count, 100 + b));
    for (const Record& r : c.batches.back()) {
      c.plain += EncodedRecordSize(r, c.batches.back().front().timestamp_us);
    }
  }
  return c;
}

void BM_DictBatchFinish(benchmark::State& state) {
  const size_t count = static_cast<size_t>(state.range(0));
  const bool use_dict = state.range(1) != 0;
  dict::DictionaryRegistry* registry = TrainedRegistry();
  Keys keys;
  const DictCase c = MakeDictCase(count);
  BatchOptions o;
  o.cipher = keys.cipher.get();
  o.dictionaries = use_dict ? registry : nullptr;
  BatchBuilder builder;
  std::string out;
  uint64_t base = 0, stored = 0;
  size_t i = 0;
  for (auto _ : state) {
    for (const Record& r : c.batches[i++ % c.batches.size()]) builder.Add(&r);
    out.clear();
    auto h = builder.Finish(base, 1, o, &out);
    if (!h.ok()) Die("finish", h.status());
    base = h->next_offset();
  }
  for (const auto& batch : c.batches) {
    for (const Record& r : batch) builder.Add(&r);
    out.clear();
    auto h = builder.Finish(base, 1, o, &out);
    if (!h.ok()) Die("finish", h.status());
    base = h->next_offset();
    stored += out.size();
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (c.plain / c.batches.size())));
  state.counters["stored_ratio"] = static_cast<double>(stored) / static_cast<double>(c.plain);
  state.counters["payload_ratio"] =
      static_cast<double>(stored - c.batches.size() * (format::kBatchHeaderSize + format::kGcmTagSize)) /
      static_cast<double>(c.plain);
  state.counters["dict_memory_bytes"] = static_cast<double>(registry->memory_bytes());
  state.SetLabel(use_dict ? "zstd+dict+aes-gcm" : "zstd+aes-gcm");
}
BENCHMARK(BM_DictBatchFinish)->ArgNames({"records", "dict"})->ArgsProduct({{1, 8, 32, 256}, {0, 1}});

void BM_DictBatchDecode(benchmark::State& state) {
  const size_t count = static_cast<size_t>(state.range(0));
  const bool use_dict = state.range(1) != 0;
  dict::DictionaryRegistry* registry = TrainedRegistry();
  Keys keys;
  const DictCase c = MakeDictCase(count);
  BatchOptions o;
  o.cipher = keys.cipher.get();
  o.dictionaries = use_dict ? registry : nullptr;
  BatchBuilder builder;
  std::vector<std::string> stored(c.batches.size());
  uint64_t base = 0;
  for (size_t b = 0; b < c.batches.size(); ++b) {
    for (const Record& r : c.batches[b]) builder.Add(&r);
    auto h = builder.Finish(base, 1, o, &stored[b]);
    if (!h.ok()) Die("finish", h.status());
    base = h->next_offset();
  }
  size_t i = 0;
  for (auto _ : state) {
    auto d = DecodeBatch(AsBytes(stored[i++ % stored.size()]), keys.ring.get(), registry);
    if (!d.ok()) Die("decode", d.status());
    benchmark::DoNotOptimize(d->records.data());
  }
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * (c.plain / c.batches.size())));
  state.SetLabel(use_dict ? "zstd+dict+aes-gcm" : "zstd+aes-gcm");
}
BENCHMARK(BM_DictBatchDecode)->ArgNames({"records", "dict"})->ArgsProduct({{1, 8, 32, 256}, {0, 1}});

}  // namespace
}  // namespace warbler::engine

BENCHMARK_MAIN();
