#include "server/admin.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <set>
#include <string>
#include <vector>

#include "CLI/CLI.hpp"
#include "absl/strings/ascii.h"
#include "absl/time/clock.h"
#include "server/auth/names.h"
#include "server/auth/principal.h"
#include "server/auth/token.h"
#include "server/data_dir.h"
#include "server/store/store.h"

namespace ablate::admin {

namespace {

// The server's database file inside its --data-dir (as in main.cc).
constexpr char kDatabaseFile[] = "ablate.db";

int Fail(const std::string& message) {
  std::cerr << "ablate-server admin: " << message << "\n";
  return 1;
}

int Fail(const absl::Status& status) { return Fail(std::string(status.message())); }

// Makes a token for `user`, stores its hash and prints "user<TAB>token".
absl::Status IssueToken(store::Store& store, const std::string& user) {
  absl::StatusOr<std::string> token = auth::NewToken();
  if (!token.ok()) return token.status();
  if (absl::Status s =
          store.AddToken(user, auth::TokenHash(*token), auth::VisiblePrefix(*token), absl::Now());
      !s.ok()) {
    return s;
  }
  std::cout << user << "\t" << *token << "\n";
  return absl::OkStatus();
}

// Names of a students file: one per line; blank lines and lines starting with '#' skipped.
absl::StatusOr<std::vector<std::string>> ReadNames(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError("cannot read the names file " + path);
  std::vector<std::string> names;
  std::string line;
  while (std::getline(in, line)) {
    const std::string name(absl::StripAsciiWhitespace(line));
    if (name.empty() || name[0] == '#') continue;
    names.push_back(name);
  }
  return names;
}

}  // namespace

int Main(int argc, char** argv) {
  CLI::App app{
      "ablate-server admin: classes, users and their tokens, on the server's database (works "
      "while the server runs). New tokens are printed once, as \"name<TAB>token\" lines: the "
      "server keeps only their hashes."};
  app.name("ablate-server admin");
  std::string data_dir = "./ablate-data";
  app.add_option("--data-dir", data_dir, "Directory of the server's SQLite database")
      ->capture_default_str();
  app.require_subcommand(1);
  app.fallthrough();  // --data-dir may come after the subcommand too

  std::string class_name, user_name, instructor, role = "student", names_file, prefix;
  std::vector<std::string> names;

  CLI::App* add_class = app.add_subcommand(
      "add-class", "Create a class; with --instructor, also its instructor and their token");
  add_class->add_option("class", class_name, "Class name")->required();
  add_class->add_option("--instructor", instructor, "The instructor's user name");

  CLI::App* add_user =
      app.add_subcommand("add-user", "Add one user to a class and print their token");
  add_user->add_option("class", class_name, "Class name")->required();
  add_user->add_option("name", user_name, "User name")->required();
  add_user->add_option("--role", role, "instructor or student")
      ->check(CLI::IsMember({"instructor", "student"}))
      ->capture_default_str();

  CLI::App* add_students = app.add_subcommand(
      "add-students", "Add students to a class, one token each (names as arguments or a file)");
  add_students->add_option("class", class_name, "Class name")->required();
  add_students->add_option("names", names, "Student names");
  add_students->add_option("--names-file", names_file,
                           "File of student names, one per line ('#' starts a comment)");

  CLI::App* new_token =
      app.add_subcommand("new-token", "Issue another token to a user (old ones keep working)");
  new_token->add_option("name", user_name, "User name")->required();

  CLI::App* revoke = app.add_subcommand(
      "revoke", "Revoke a user's tokens (all of them, or the one with --token-prefix)");
  revoke->add_option("name", user_name, "User name")->required();
  revoke->add_option("--token-prefix", prefix,
                     "Only the tokens starting with this (the first 12 characters of a token, "
                     "\"abl_\" and 8 more, name it; a whole token works too)");

  CLI::App* list = app.add_subcommand("list", "List users, with their live token counts");
  list->add_option("class", class_name, "Only this class");

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }

  // Every name is checked before anything is written.
  std::vector<std::pair<const char*, std::string>> to_check;
  if (!class_name.empty()) to_check.emplace_back("the class name", class_name);
  if (!user_name.empty()) to_check.emplace_back("the user name", user_name);
  if (!instructor.empty()) to_check.emplace_back("the instructor's name", instructor);
  if (*add_students) {
    if (!names_file.empty()) {
      absl::StatusOr<std::vector<std::string>> from_file = ReadNames(names_file);
      if (!from_file.ok()) return Fail(from_file.status());
      names.insert(names.end(), from_file->begin(), from_file->end());
    }
    if (names.empty()) return Fail("add-students needs names: as arguments or --names-file");
    std::set<std::string> seen;
    for (const std::string& name : names) {
      if (!seen.insert(name).second) return Fail("the student \"" + name + "\" is listed twice");
      to_check.emplace_back("a student's name", name);
    }
  }
  for (const auto& [what, name] : to_check) {
    if (absl::Status s = auth::CheckName(what, name); !s.ok()) return Fail(s);
  }

  if (absl::Status s = CreateDataDir(data_dir); !s.ok()) return Fail(s);
  const std::string db_path = (std::filesystem::path(data_dir) / kDatabaseFile).string();
  absl::StatusOr<std::unique_ptr<store::Store>> opened = store::Store::Open(db_path);
  if (!opened.ok()) return Fail(opened.status());
  store::Store& store = **opened;
  const absl::Time now = absl::Now();

  if (*add_class) {
    if (absl::StatusOr<int64_t> id = store.CreateClass(class_name, now); !id.ok()) {
      return Fail(id.status());
    }
    std::cerr << "created class " << class_name << "\n";
    if (!instructor.empty()) {
      absl::StatusOr<store::User> user =
          store.CreateUser(class_name, instructor, store::Role::kInstructor, now);
      if (!user.ok()) return Fail(user.status());
      if (absl::Status s = IssueToken(store, instructor); !s.ok()) return Fail(s);
    }
  } else if (*add_user) {
    const store::Role r = role == "instructor" ? store::Role::kInstructor : store::Role::kStudent;
    absl::StatusOr<store::User> user = store.CreateUser(class_name, user_name, r, now);
    if (!user.ok()) return Fail(user.status());
    if (absl::Status s = IssueToken(store, user_name); !s.ok()) return Fail(s);
  } else if (*add_students) {
    // Existing names are refused before any student is added, so a rerun with a fixed file
    // does not leave half a class behind.
    absl::StatusOr<std::vector<store::User>> users = store.ListUsers("");
    if (!users.ok()) return Fail(users.status());
    for (const store::User& u : *users) {
      for (const std::string& name : names) {
        if (u.name == name) {
          return Fail("a user named \"" + name + "\" already exists (in class " + u.class_name +
                      "); nothing was added");
        }
      }
    }
    for (const std::string& name : names) {
      absl::StatusOr<store::User> user =
          store.CreateUser(class_name, name, store::Role::kStudent, now);
      if (!user.ok()) return Fail(user.status());
      if (absl::Status s = IssueToken(store, name); !s.ok()) return Fail(s);
    }
    std::cerr << "added " << names.size() << " students to " << class_name << "\n";
  } else if (*new_token) {
    if (absl::Status s = IssueToken(store, user_name); !s.ok()) return Fail(s);
  } else if (*revoke) {
    // Only the visible prefix is stored: a longer text (a whole token) is cut to it.
    prefix = prefix.substr(0, std::min(prefix.size(), auth::kVisiblePrefixLength));
    absl::StatusOr<int> revoked = store.RevokeTokens(user_name, prefix, now);
    if (!revoked.ok()) return Fail(revoked.status());
    std::cerr << "revoked " << *revoked << " token" << (*revoked == 1 ? "" : "s") << " of "
              << user_name << "\n";
    if (*revoked == 0) return 1;
  } else if (*list) {
    absl::StatusOr<std::vector<store::User>> users = store.ListUsers(class_name);
    if (!users.ok()) return Fail(users.status());
    std::cout << "class\tuser\trole\tlive_tokens\n";
    for (const store::User& u : *users) {
      std::cout << u.class_name << "\t" << u.name << "\t" << auth::RoleName(u.role) << "\t"
                << u.live_tokens << "\n";
    }
  }
  return 0;
}

}  // namespace ablate::admin
