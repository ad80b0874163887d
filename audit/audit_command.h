#ifndef CORDON_AUDIT_AUDIT_COMMAND_H_
#define CORDON_AUDIT_AUDIT_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

namespace cordon::audit {

// `cordon audit ...`: args are those after "audit" (verify|query|summary|tail ...).
// Exit status: 0 success (verify: chain intact), 1 verify found tampering or truncation,
// 2 usage or I/O error.
int RunAuditCommand(const std::vector<std::string>& args, std::ostream& out, std::ostream& err);

}  // namespace cordon::audit

#endif  // CORDON_AUDIT_AUDIT_COMMAND_H_
