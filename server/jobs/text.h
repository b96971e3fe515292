// Client-supplied text: which names are accepted, and how such text is written to the log.
#ifndef ABLATE_SERVER_JOBS_TEXT_H_
#define ABLATE_SERVER_JOBS_TEXT_H_

#include <string>
#include <string_view>

namespace ablate::jobs {

// What is wrong with `text` as a name shown to people and written to logs, or an empty string
// when nothing is: it must be valid UTF-8 without control characters, C0 (U+0000–U+001F, tab
// and newline included), DEL (U+007F) or C1 (U+0080–U+009F). Any other character, from any
// script, emoji included, is accepted. The answer reads "contains the control character U+001B"
// or "is not valid UTF-8 (byte 3)".
std::string NameTextProblem(std::string_view text);

// True when `text` is well-formed UTF-8 (RFC 3629: no overlong forms, surrogates, or code
// points above U+10FFFF); control characters are allowed here.
bool IsUtf8(std::string_view text);

// `text` made safe for one log line: valid UTF-8 other than control characters is kept as it is;
// control characters, bytes that are not valid UTF-8 and backslashes are written as \xNN
// (\x5c for a backslash), so a client cannot end a log line early, forge the next one or drive
// the terminal that shows it.
std::string EscapeForLog(std::string_view text);

}  // namespace ablate::jobs

#endif  // ABLATE_SERVER_JOBS_TEXT_H_
