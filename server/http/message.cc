#include "server/http/message.h"

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"

namespace ablate::http {

namespace {

bool SameName(std::string_view a, std::string_view b) {
  return absl::EqualsIgnoreCase(absl::string_view(a.data(), a.size()),
                                absl::string_view(b.data(), b.size()));
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

}  // namespace

std::string PercentDecode(std::string_view text, bool plus_is_space) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size(); ++i) {
    const char c = text[i];
    if (c == '%' && i + 2 < text.size()) {
      const int high = HexValue(text[i + 1]);
      const int low = HexValue(text[i + 2]);
      if (high >= 0 && low >= 0) {
        out += static_cast<char>(high * 16 + low);
        i += 2;
        continue;
      }
    }
    out += (plus_is_space && c == '+') ? ' ' : c;
  }
  return out;
}

void ParseTarget(std::string_view target, std::string& path,
                 std::multimap<std::string, std::string>& query) {
  const size_t mark = target.find('?');
  path = PercentDecode(target.substr(0, mark), /*plus_is_space=*/false);
  query.clear();
  if (mark == std::string_view::npos) return;
  std::string_view rest = target.substr(mark + 1);
  while (!rest.empty()) {
    const size_t amp = rest.find('&');
    const std::string_view pair = rest.substr(0, amp);
    rest = amp == std::string_view::npos ? std::string_view() : rest.substr(amp + 1);
    if (pair.empty()) continue;
    const size_t eq = pair.find('=');
    query.emplace(PercentDecode(pair.substr(0, eq), true),
                  eq == std::string_view::npos ? "" : PercentDecode(pair.substr(eq + 1), true));
  }
}

bool MatchesIfNoneMatch(const Request& request, std::string_view etag) {
  // If-None-Match compares weakly: the W/ prefix is not part of what is compared.
  if (etag.substr(0, 2) == "W/") etag.remove_prefix(2);
  for (const std::string& value : request.HeaderValues("If-None-Match")) {
    // A list of entity tags: ["W/"] DQUOTE chars DQUOTE, separated by commas and spaces (a
    // comma may also sit inside the quotes, so the list is read tag by tag, not split).
    std::string_view rest = value;
    for (;;) {
      const size_t start = rest.find_first_not_of(" \t,");
      if (start == std::string_view::npos) break;
      rest.remove_prefix(start);
      if (rest[0] == '*') return true;
      if (rest.substr(0, 2) == "W/") rest.remove_prefix(2);
      const size_t close = rest.size() > 1 && rest[0] == '"' ? rest.find('"', 1) : 0;
      if (close == 0 || close == std::string_view::npos) break;  // not a tag: nothing to match
      if (rest.substr(0, close + 1) == etag) return true;
      rest.remove_prefix(close + 1);
    }
  }
  return false;
}

std::string Request::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return "";
}

bool Request::HasHeader(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return true;
  }
  return false;
}

std::vector<std::string> Request::HeaderValues(std::string_view name) const {
  std::vector<std::string> values;
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) values.push_back(value);
  }
  return values;
}

void Response::SetHeader(std::string_view name, std::string value) {
  std::erase_if(headers, [name](const auto& h) { return SameName(h.first, name); });
  headers.emplace_back(std::string(name), std::move(value));
}

std::string Response::Header(std::string_view name) const {
  for (const auto& [key, value] : headers) {
    if (SameName(key, name)) return value;
  }
  return "";
}

}  // namespace ablate::http
