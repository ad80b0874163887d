#include "audit/audit_verifier.h"

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "audit/chain_hasher.h"
#include "audit/json_escape.h"
#include "audit/log_reader.h"
#include "audit/record_line.h"

namespace cordon::audit {

absl::StatusOr<VerifyResult> AuditVerifier::Verify(const std::vector<std::string>& files,
                                                   const VerifyOptions& options) {
  absl::StatusOr<std::unique_ptr<ChainHasher>> hasher = ChainHasher::Create(options.hmac_key_file);
  if (!hasher.ok()) return hasher.status();
  absl::StatusOr<std::vector<std::string>> ordered = LogReader::OrderFiles(files, false);
  if (!ordered.ok()) return ordered.status();

  VerifyResult res;
  bool have_prev = false;
  std::string prev_hash;
  uint64_t prev_seq = 0;
  auto fail = [&](const std::string& where, std::string_view problem) {
    res.ok = false;
    res.first_bad_seq = have_prev ? prev_seq + 1 : 1;
    res.problem = absl::StrCat(where, ": ", ToAbsl(problem));
    return res;
  };

  for (const std::string& path : *ordered) {
    absl::StatusOr<LogReader> reader = LogReader::Open(path);
    if (!reader.ok()) return reader.status();
    std::string line;
    while (true) {
      absl::StatusOr<LogReader::Result> next = reader->Next(&line);
      if (!next.ok()) return next.status();
      if (*next == LogReader::Result::kNoLine) {
        if (reader->pending() > 0) {
          return fail(absl::StrCat(path, " at end"),
                      absl::StrCat("truncated: the file ends inside a record (", reader->pending(),
                                   " bytes without a newline)"));
        }
        break;
      }
      const std::string where = absl::StrCat(path, " offset ", reader->line_offset());
      if (*next == LogReader::Result::kTooLong) {
        return fail(where, "line longer than the record size cap (not written by cordon)");
      }
      std::string_view canonical, stored;
      if (absl::Status s = RecordLine::Split(line, &canonical, &stored); !s.ok()) {
        return fail(where, absl::StrCat("malformed record: ", s.message()));
      }
      absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line);
      if (!rec.ok()) {
        return fail(where, absl::StrCat("unreadable record: ", rec.status().message()));
      }
      char computed[ChainHasher::kHexLength];
      if (absl::Status s = (*hasher)->HashHex(canonical, computed); !s.ok()) return s;
      if (std::string_view(computed, sizeof computed) != stored || rec->hash != stored) {
        return fail(where,
                    absl::StrCat("record seq ", rec->seq, " does not match its hash: it was edited",
                                 (*hasher)->keyed() ? ""
                                                    : " (or the log is keyed: "
                                                      "pass --key-file)"));
      }
      if (!have_prev) {
        if (rec->seq == 1) {
          if (rec->prev != ChainHasher::GenesisHex()) {
            return fail(where, "record seq 1 does not start from the genesis prev (all zeros)");
          }
        } else if (!options.allow_missing_head) {
          res.first_bad_seq = 1;
          res.problem = absl::StrCat(
              where, ": the log starts at seq ", rec->seq,
              ", not 1: records or files before it are missing (give every rotated file, or "
              "pass --allow-missing-head for a log pruned on purpose)");
          return res;
        }
        res.first_seq = rec->seq;
      } else {
        if (rec->seq != prev_seq + 1) {
          return fail(where,
                      absl::StrCat("expected seq ", prev_seq + 1, " but found seq ", rec->seq,
                                   ": records were deleted, inserted or reordered"));
        }
        if (rec->prev != prev_hash) {
          return fail(where,
                      absl::StrCat("record seq ", rec->seq, " does not chain to seq ", prev_seq,
                                   " (prev differs): a record was deleted, inserted, "
                                   "reordered or rewritten before it"));
        }
      }
      if (rec->type == "audit.recovered") {
        res.notes.push_back(absl::StrCat("seq ", rec->seq,
                                         ": audit.recovered: a torn record was cut off at "
                                         "start-up: ",
                                         rec->json.ToText()));
      }
      have_prev = true;
      prev_seq = rec->seq;
      prev_hash = std::string(stored);
      ++res.records;
    }
  }
  if (options.expect_last_seq.has_value()) {
    const uint64_t want = *options.expect_last_seq;
    if (!have_prev || prev_seq < want) {
      return fail("end of log", absl::StrCat("truncated: the log ends at seq ", prev_seq,
                                             " but the anchor says seq ", want, " exists"));
    }
  }
  res.ok = true;
  res.last_seq = prev_seq;
  res.last_hash = prev_hash;
  if (!options.expect_last_hash.empty() && options.expect_last_seq.has_value()) {
    // Checked in a second pass only when needed: re-read to find the anchor's hash.
    bool found = false;
    std::string anchor_hash;
    for (const std::string& path : *ordered) {
      absl::StatusOr<LogReader> reader = LogReader::Open(path);
      if (!reader.ok()) return reader.status();
      std::string line;
      while (true) {
        absl::StatusOr<LogReader::Result> next = reader->Next(&line);
        if (!next.ok()) return next.status();
        if (*next == LogReader::Result::kNoLine) break;
        absl::StatusOr<ParsedRecord> rec = RecordLine::Parse(line);
        if (rec.ok() && rec->seq == *options.expect_last_seq) {
          found = true;
          anchor_hash = rec->hash;
        }
      }
    }
    if (!found || anchor_hash != options.expect_last_hash) {
      res.ok = false;
      res.first_bad_seq = *options.expect_last_seq;
      res.problem = absl::StrCat("anchor: record seq ", *options.expect_last_seq,
                                 " does not have the anchored hash: the chain was rewritten");
    }
  }
  return res;
}

}  // namespace cordon::audit
