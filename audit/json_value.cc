#include "audit/json_value.h"

#include <cerrno>
#include <cstdlib>

#include "absl/status/status.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "audit/json_escape.h"

namespace cordon::audit {

class JsonParser {
 public:
  explicit JsonParser(std::string_view text) : text_(text) {}

  absl::StatusOr<JsonValue> ParseDocument() {
    JsonValue v;
    if (absl::Status s = ParseValue(&v, 0); !s.ok()) return s;
    SkipSpace();
    if (pos_ != text_.size()) return Error("trailing characters after the JSON value");
    return v;
  }

 private:
  static constexpr int kMaxDepth = 32;

  absl::Status Error(std::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat("JSON at offset ", pos_, ": ", ToAbsl(what)));
  }

  void SkipSpace() {
    while (pos_ < text_.size() && (text_[pos_] == ' ' || text_[pos_] == '\t' ||
                                   text_[pos_] == '\n' || text_[pos_] == '\r')) {
      ++pos_;
    }
  }

  bool Consume(std::string_view lit) {
    if (text_.substr(pos_, lit.size()) != lit) return false;
    pos_ += lit.size();
    return true;
  }

  absl::Status ParseValue(JsonValue* v, int depth) {
    if (depth > kMaxDepth) return Error("nesting too deep");
    SkipSpace();
    if (pos_ >= text_.size()) return Error("unexpected end of input");
    const char c = text_[pos_];
    if (c == '{') return ParseObject(v, depth);
    if (c == '[') return ParseArray(v, depth);
    if (c == '"') {
      v->kind_ = JsonValue::Kind::kString;
      return ParseString(&v->string_);
    }
    if (Consume("true")) {
      v->kind_ = JsonValue::Kind::kBool;
      v->bool_ = true;
      return absl::OkStatus();
    }
    if (Consume("false")) {
      v->kind_ = JsonValue::Kind::kBool;
      return absl::OkStatus();
    }
    if (Consume("null")) return absl::OkStatus();
    return ParseNumber(v);
  }

  absl::Status ParseNumber(JsonValue* v) {
    const size_t start = pos_;
    if (pos_ < text_.size() && text_[pos_] == '-') ++pos_;
    const size_t digits = pos_;
    while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
    if (pos_ == digits) return Error("expected a value");
    if (pos_ < text_.size() && text_[pos_] == '.') {
      ++pos_;
      const size_t frac = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == frac) return Error("expected digits after '.'");
    }
    if (pos_ < text_.size() && (text_[pos_] == 'e' || text_[pos_] == 'E')) {
      ++pos_;
      if (pos_ < text_.size() && (text_[pos_] == '+' || text_[pos_] == '-')) ++pos_;
      const size_t exp = pos_;
      while (pos_ < text_.size() && text_[pos_] >= '0' && text_[pos_] <= '9') ++pos_;
      if (pos_ == exp) return Error("expected exponent digits");
    }
    v->kind_ = JsonValue::Kind::kNumber;
    v->string_ = std::string(text_.substr(start, pos_ - start));
    return absl::OkStatus();
  }

  absl::Status ParseHex4(uint32_t* out) {
    if (pos_ + 4 > text_.size()) return Error("truncated \\u escape");
    uint32_t cp = 0;
    for (int i = 0; i < 4; ++i) {
      const char h = text_[pos_++];
      cp <<= 4;
      if (h >= '0' && h <= '9') {
        cp |= h - '0';
      } else if (h >= 'a' && h <= 'f') {
        cp |= h - 'a' + 10;
      } else if (h >= 'A' && h <= 'F') {
        cp |= h - 'A' + 10;
      } else {
        return Error("bad hex digit in \\u escape");
      }
    }
    *out = cp;
    return absl::OkStatus();
  }

  static void AppendUtf8(std::string* out, uint32_t cp) {
    if (cp < 0x80) {
      out->push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out->push_back(static_cast<char>(0xc0 | (cp >> 6)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out->push_back(static_cast<char>(0xe0 | (cp >> 12)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out->push_back(static_cast<char>(0xf0 | (cp >> 18)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 12) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | ((cp >> 6) & 0x3f)));
      out->push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  absl::Status ParseString(std::string* out) {
    ++pos_;  // opening quote
    const size_t start = pos_;
    while (pos_ < text_.size()) {
      const auto c = static_cast<unsigned char>(text_[pos_]);
      if (c == '"') {
        ++pos_;
        if (!IsValidUtf8(*out)) return Error("string is not valid UTF-8");
        return absl::OkStatus();
      }
      if (c < 0x20) return Error("raw control character in string");
      if (c != '\\') {
        out->push_back(static_cast<char>(c));
        ++pos_;
        continue;
      }
      ++pos_;
      if (pos_ >= text_.size()) break;
      const char e = text_[pos_++];
      switch (e) {
        case '"':
        case '\\':
        case '/':
          out->push_back(e);
          break;
        case 'b':
          out->push_back('\b');
          break;
        case 'f':
          out->push_back('\f');
          break;
        case 'n':
          out->push_back('\n');
          break;
        case 'r':
          out->push_back('\r');
          break;
        case 't':
          out->push_back('\t');
          break;
        case 'u': {
          uint32_t cp = 0;
          if (absl::Status s = ParseHex4(&cp); !s.ok()) return s;
          if (cp >= 0xd800 && cp <= 0xdbff) {
            uint32_t lo = 0;
            if (!Consume("\\u")) return Error("unpaired surrogate");
            if (absl::Status s = ParseHex4(&lo); !s.ok()) return s;
            if (lo < 0xdc00 || lo > 0xdfff) return Error("unpaired surrogate");
            cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return Error("unpaired surrogate");
          }
          AppendUtf8(out, cp);
          break;
        }
        default:
          return Error("bad escape in string");
      }
    }
    pos_ = start;
    return Error("unterminated string");
  }

  absl::Status ParseArray(JsonValue* v, int depth) {
    v->kind_ = JsonValue::Kind::kArray;
    ++pos_;
    SkipSpace();
    if (Consume("]")) return absl::OkStatus();
    while (true) {
      JsonValue item;
      if (absl::Status s = ParseValue(&item, depth + 1); !s.ok()) return s;
      v->array_.push_back(std::move(item));
      SkipSpace();
      if (Consume("]")) return absl::OkStatus();
      if (!Consume(",")) return Error("expected ',' or ']' in array");
    }
  }

  absl::Status ParseObject(JsonValue* v, int depth) {
    v->kind_ = JsonValue::Kind::kObject;
    ++pos_;
    SkipSpace();
    if (Consume("}")) return absl::OkStatus();
    while (true) {
      SkipSpace();
      if (pos_ >= text_.size() || text_[pos_] != '"') return Error("expected a key string");
      std::string key;
      if (absl::Status s = ParseString(&key); !s.ok()) return s;
      SkipSpace();
      if (!Consume(":")) return Error("expected ':' after key");
      JsonValue item;
      if (absl::Status s = ParseValue(&item, depth + 1); !s.ok()) return s;
      v->object_.emplace_back(std::move(key), std::move(item));
      SkipSpace();
      if (Consume("}")) return absl::OkStatus();
      if (!Consume(",")) return Error("expected ',' or '}' in object");
    }
  }

  std::string_view text_;
  size_t pos_ = 0;
};

absl::StatusOr<JsonValue> JsonValue::Parse(std::string_view text) {
  // Records are capped well below this at write time; anything larger is not ours.
  constexpr size_t kMaxText = 1 << 20;
  if (text.size() > kMaxText) {
    return absl::InvalidArgumentError(
        absl::StrCat("JSON text of ", text.size(), " bytes exceeds the ", kMaxText, " cap"));
  }
  return JsonParser(text).ParseDocument();
}

double JsonValue::number_value() const {
  double d = 0;
  if (kind_ == Kind::kNumber) (void)absl::SimpleAtod(string_, &d);
  return d;
}

bool JsonValue::ToUint64(uint64_t* out) const {
  return kind_ == Kind::kNumber && absl::SimpleAtoi(string_, out);
}

bool JsonValue::ToInt64(int64_t* out) const {
  return kind_ == Kind::kNumber && absl::SimpleAtoi(string_, out);
}

const JsonValue* JsonValue::Find(std::string_view key) const {
  for (const auto& [k, v] : object_) {
    if (k == key) return &v;
  }
  return nullptr;
}

std::string JsonValue::ToText() const {
  std::string out;
  switch (kind_) {
    case Kind::kNull:
      return "null";
    case Kind::kBool:
      return bool_ ? "true" : "false";
    case Kind::kNumber:
      return string_;
    case Kind::kString:
      AppendJsonString(&out, string_);
      return out;
    case Kind::kArray:
      out.push_back('[');
      for (size_t i = 0; i < array_.size(); ++i) {
        if (i) out.push_back(',');
        out += array_[i].ToText();
      }
      out.push_back(']');
      return out;
    case Kind::kObject:
      out.push_back('{');
      for (size_t i = 0; i < object_.size(); ++i) {
        if (i) out.push_back(',');
        AppendJsonString(&out, object_[i].first);
        out.push_back(':');
        out += object_[i].second.ToText();
      }
      out.push_back('}');
      return out;
  }
  return out;
}

}  // namespace cordon::audit
