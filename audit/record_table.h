#ifndef CORDON_AUDIT_RECORD_TABLE_H_
#define CORDON_AUDIT_RECORD_TABLE_H_

#include <string>
#include <string_view>

#include "audit/record_line.h"

namespace cordon::audit {

// The table form `cordon audit query` and `tail` print: one line per record,
// `seq  ts  type  plugin  decision  key=value...`. Everything in it is escaped, because a log
// holds a plugin's bytes, and a forged or edited one can hold anything in any field.
class RecordTable {
 public:
  static std::string Row(const ParsedRecord& record);
  // Terminal-safe rendering of an untrusted string: JSON escaping without the quotes.
  static std::string Safe(std::string_view s);
};

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_RECORD_TABLE_H_
