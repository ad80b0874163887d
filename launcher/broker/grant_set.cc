#include "launcher/broker/grant_set.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace cordon::broker {
namespace {

constexpr size_t kMaxTargetBytes = 4096;

bool IsPrefix(const std::vector<std::string>& prefix, const std::vector<std::string>& path) {
  return prefix.size() <= path.size() && std::equal(prefix.begin(), prefix.end(), path.begin());
}

std::string Join(const std::vector<std::string>& components) {
  return absl::StrCat("/", absl::StrJoin(components, "/"));
}

struct Rights {
  bool read = false;
  bool write = false;
  bool create = false;
};

std::string RightsText(bool r, bool w, bool c) {
  std::vector<std::string> out;
  if (r) out.push_back("read");
  if (w) out.push_back("write");
  if (c) out.push_back("create");
  return out.empty() ? "nothing" : absl::StrJoin(out, "+");
}

// A bound's plugin path must already be canonical so that grants compare component-wise.
absl::StatusOr<std::vector<std::string>> CanonicalDir(absl::string_view path) {
  absl::StatusOr<std::vector<std::string>> parts = PathResolver::SplitPluginPath(path);
  if (!parts.ok()) return parts.status();
  if (Join(*parts) != path && !(parts->empty() && path == "/")) {
    return absl::InvalidArgumentError(
        absl::StrCat("'", path, "' is not canonical; write it as '", Join(*parts), "'"));
  }
  return parts;
}

}  // namespace

std::string FsGrant::host_path() const {
  return below_bound.empty() ? bound_host_path
                             : absl::StrCat(bound_host_path, "/", absl::StrJoin(below_bound, "/"));
}

bool GrantSet::ValidFunctionName(absl::string_view name) {
  if (name.empty() || name.size() > 128) return false;
  return std::all_of(name.begin(), name.end(), [](char c) {
    return absl::ascii_isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.' || c == ':' ||
           c == '-';
  });
}

absl::Status GrantSet::ValidateBounds(const cordon::v1::CapabilityBounds& bounds) {
  std::vector<std::string> problems;
  for (int i = 0; i < bounds.fs_size(); ++i) {
    const cordon::v1::FsBound& fs = bounds.fs(i);
    std::string where = absl::StrCat("capabilities.fs[", i, "]");
    absl::StatusOr<std::vector<std::string>> plugin = CanonicalDir(fs.plugin_path());
    if (!plugin.ok()) {
      problems.push_back(absl::StrCat(where, ".plugin_path: ", plugin.status().message()));
    } else if (plugin->empty()) {
      problems.push_back(absl::StrCat(where, ".plugin_path: '/' cannot be granted"));
    }
    absl::StatusOr<std::vector<std::string>> host = CanonicalDir(fs.host_path());
    if (!host.ok()) {
      problems.push_back(absl::StrCat(where, ".host_path: ", host.status().message()));
    } else if (host->empty()) {
      problems.push_back(absl::StrCat(where, ".host_path: the host root '/' cannot be granted"));
    }
    for (int j = 0; j < i; ++j) {
      if (bounds.fs(j).plugin_path() != fs.plugin_path()) continue;
      if (bounds.fs(j).host_path() != fs.host_path()) {
        problems.push_back(absl::StrCat(where, ".plugin_path: '", fs.plugin_path(),
                                        "' is already mapped to another host_path by fs[", j, "]"));
      } else if (bounds.fs(j).follow_symlinks() != fs.follow_symlinks()) {
        // Grants under both would merge into one directory with one setting, so one bound's
        // rights could end up following symlinks the profile meant them not to.
        problems.push_back(
            absl::StrCat(where, ".follow_symlinks: '", fs.plugin_path(), "' -> '", fs.host_path(),
                         "' is bounded by fs[", j, "] too, with follow_symlinks ",
                         bounds.fs(j).follow_symlinks() ? "true" : "false",
                         "; give both the same setting (or merge them into one bound)"));
      }
    }
    if (!fs.read() && !fs.write() && !fs.create()) {
      problems.push_back(absl::StrCat(where, ": grants nothing; set read, write or create"));
    }
  }
  for (int i = 0; i < bounds.net_connect_size(); ++i) {
    absl::StatusOr<EndpointPattern> p = EndpointPattern::Parse(bounds.net_connect(i));
    if (!p.ok()) {
      problems.push_back(absl::StrCat("capabilities.net_connect[", i, "]: ", p.status().message()));
    }
  }
  for (int i = 0; i < bounds.host_functions_size(); ++i) {
    if (!ValidFunctionName(bounds.host_functions(i))) {
      problems.push_back(absl::StrCat("capabilities.host_functions[", i, "]: '",
                                      absl::CEscape(bounds.host_functions(i)),
                                      "' is not a function name ([A-Za-z0-9_.:-]{1,128})"));
    }
  }
  if (problems.empty()) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("profile capability bounds are invalid (docs/broker.md):\n  ",
                   absl::StrJoin(problems, "\n  ")));
}

absl::StatusOr<GrantSet> GrantSet::Intersect(
    const google::protobuf::RepeatedPtrField<cordon::v1::Capability>& requested,
    const cordon::v1::CapabilityBounds& bounds) {
  return Intersect(std::vector<cordon::v1::Capability>(requested.begin(), requested.end()), bounds);
}

absl::StatusOr<GrantSet> GrantSet::Intersect(const std::vector<cordon::v1::Capability>& requested,
                                             const cordon::v1::CapabilityBounds& bounds) {
  if (absl::Status s = ValidateBounds(bounds); !s.ok()) return s;
  if (requested.size() > kMaxCapabilities) {
    return absl::InvalidArgumentError(absl::StrCat("manifest requests ", requested.size(),
                                                   " capabilities; at most 256 are accepted"));
  }
  std::vector<EndpointPattern> bound_net;
  for (const std::string& text : bounds.net_connect())
    bound_net.push_back(*EndpointPattern::Parse(text));

  GrantSet out;
  std::vector<std::string> over;
  for (const cordon::v1::Capability& cap : requested) {
    const std::string& kind = cap.kind();
    std::string target = cap.target();
    std::string shown = absl::StrCat(absl::CEscape(kind.substr(0, 64)), " '",
                                     absl::CEscape(target.substr(0, 256)), "'");
    if (target.size() > kMaxTargetBytes) {
      over.push_back(absl::StrCat(shown, ": target longer than 4096 bytes"));
      continue;
    }
    if (kind == "fs.read" || kind == "fs.write" || kind == "fs.create") {
      absl::StatusOr<std::vector<std::string>> parts = PathResolver::SplitPluginPath(target);
      if (!parts.ok()) {
        over.push_back(absl::StrCat(shown, ": ", parts.status().message()));
        continue;
      }
      bool r = kind == "fs.read", w = kind == "fs.write", c = kind == "fs.create";
      // The most specific bound containing the directory that allows this access.
      const cordon::v1::FsBound* best = nullptr;
      size_t best_depth = 0;
      for (const cordon::v1::FsBound& b : bounds.fs()) {
        std::vector<std::string> bp = *PathResolver::SplitPluginPath(b.plugin_path());
        if (!IsPrefix(bp, *parts)) continue;
        if ((r && !b.read()) || (w && !b.write()) || (c && !b.create())) continue;
        if (best == nullptr || bp.size() > best_depth) {
          best = &b;
          best_depth = bp.size();
        }
      }
      if (best == nullptr) {
        std::string offered;
        for (const cordon::v1::FsBound& b : bounds.fs()) {
          if (IsPrefix(*PathResolver::SplitPluginPath(b.plugin_path()), *parts)) {
            absl::StrAppend(&offered, offered.empty() ? "" : ", ", b.plugin_path(), " (",
                            RightsText(b.read(), b.write(), b.create()), ")");
          }
        }
        over.push_back(absl::StrCat(shown, ": ",
                                    offered.empty()
                                        ? "no fs bound of the profile contains it"
                                        : absl::StrCat("the profile bounds it to ", offered)));
        continue;
      }
      std::string canonical = Join(*parts);
      std::vector<std::string> below(parts->begin() + static_cast<ptrdiff_t>(best_depth),
                                     parts->end());
      // Only grants of the very same host directory under the same symlink rule merge; any
      // other pair stays two grants, each with its own bound's rule.
      auto it = std::find_if(out.fs_.begin(), out.fs_.end(), [&](const FsGrant& g) {
        return g.plugin_path == canonical && g.bound_host_path == best->host_path() &&
               g.below_bound == below && g.follow_symlinks == best->follow_symlinks();
      });
      if (it == out.fs_.end()) {
        FsGrant g;
        g.plugin_path = canonical;
        g.plugin_components = *parts;
        g.bound_host_path = best->host_path();
        g.below_bound = below;
        g.follow_symlinks = best->follow_symlinks();
        out.fs_.push_back(g);
        it = out.fs_.end() - 1;
      }
      it->read |= r;
      it->write |= w;
      it->create |= c;
    } else if (kind == "net.connect") {
      absl::StatusOr<EndpointPattern> p = EndpointPattern::Parse(target);
      if (!p.ok()) {
        over.push_back(absl::StrCat(shown, ": ", p.status().message()));
        continue;
      }
      bool covered = std::any_of(bound_net.begin(), bound_net.end(),
                                 [&](const EndpointPattern& b) { return b.Covers(*p); });
      if (!covered) {
        over.push_back(
            absl::StrCat(shown, ": no net_connect bound of the profile covers ", p->ToString()));
        continue;
      }
      out.net_.push_back(*p);
    } else if (kind == "host.call") {
      if (!ValidFunctionName(target)) {
        over.push_back(absl::StrCat(shown, ": not a function name ([A-Za-z0-9_.:-]{1,128})"));
        continue;
      }
      if (std::find(bounds.host_functions().begin(), bounds.host_functions().end(), target) ==
          bounds.host_functions().end()) {
        over.push_back(absl::StrCat(shown, ": the profile does not allow this host function"));
        continue;
      }
      out.host_functions_.insert(target);
    } else if (kind == "log") {
      if (!target.empty()) {
        over.push_back(absl::StrCat(shown, ": log takes no target"));
        continue;
      }
      if (!bounds.log()) {
        over.push_back(absl::StrCat(shown, ": the profile does not allow plugin logs"));
        continue;
      }
      out.log_ = true;
    } else {
      over.push_back(absl::StrCat(shown,
                                  ": unknown capability kind (fs.read, fs.write, "
                                  "fs.create, net.connect, host.call, log)"));
    }
  }
  if (!over.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "manifest requests ", over.size(), " capabilit", over.size() == 1 ? "y" : "ies",
        " beyond the profile's bounds (docs/broker.md):\n  ", absl::StrJoin(over, "\n  ")));
  }
  std::stable_sort(out.fs_.begin(), out.fs_.end(), [](const FsGrant& a, const FsGrant& b) {
    return a.plugin_components.size() > b.plugin_components.size();
  });
  return out;
}

absl::StatusOr<size_t> GrantSet::MatchPath(const std::vector<std::string>& components,
                                           const OpenIntent& intent,
                                           std::vector<std::string>* rest) const {
  // fs.create alone covers a create, in either write mode: O_CREAT|O_EXCL makes the fd name a
  // file that did not exist, so writing it, or reading back what the plugin wrote, touches
  // nothing else. Opening existing files still needs fs.write / fs.read (docs/broker.md).
  const Rights need =
      intent.create ? Rights{false, false, true} : Rights{intent.read, intent.write, false};
  bool inside_any = false;
  for (size_t i = 0; i < fs_.size(); ++i) {
    const FsGrant& g = fs_[i];
    if (!IsPrefix(g.plugin_components, components)) continue;
    inside_any = true;
    if ((need.read && !g.read) || (need.write && !g.write) || (need.create && !g.create)) {
      continue;
    }
    rest->assign(components.begin() + static_cast<ptrdiff_t>(g.plugin_components.size()),
                 components.end());
    return i;
  }
  std::string path = Join(components);
  if (!inside_any) {
    return absl::PermissionDeniedError(
        absl::StrCat("'", path, "' is not beneath any granted directory"));
  }
  return absl::PermissionDeniedError(absl::StrCat(
      "no grant allows ", RightsText(need.read, need.write, need.create), " access to '", path, "'",
      need.create ? " (creating a file needs fs.create)" : ""));
}

std::vector<cordon::v1::Capability> GrantSet::ToCapabilities() const {
  std::vector<cordon::v1::Capability> out;
  auto add = [&](const std::string& kind, const std::string& target) {
    cordon::v1::Capability c;
    c.set_kind(kind);
    c.set_target(target);
    out.push_back(std::move(c));
  };
  for (const FsGrant& g : fs_) {
    if (g.read) add("fs.read", g.plugin_path);
    if (g.write) add("fs.write", g.plugin_path);
    if (g.create) add("fs.create", g.plugin_path);
  }
  for (const EndpointPattern& p : net_) add("net.connect", p.ToString());
  for (const std::string& f : host_functions_) add("host.call", f);
  if (log_) add("log", "");
  return out;
}

}  // namespace cordon::broker
