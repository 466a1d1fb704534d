// docs/API.md stays in step with the public headers: every name a public
// header declares for users (namespace scope, or a public member of a public
// class, outside detail::) must be mentioned in docs/API.md. And the project
// stands on its own: no file of it refers to the sibling shared/ folder
// that only its developers have.
//
// The headers are scanned as text with a small tokenizer that knows just
// enough C++ to find declarations: comments, strings and preprocessor lines
// are dropped, bodies of functions are skipped, `private:`/`protected:`
// sections and `namespace detail` are skipped, and in what remains each
// statement contributes the name it declares.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

namespace {

namespace fs = std::filesystem;

const fs::path source_dir = SPINDLE_SOURCE_DIR;

std::string read_file(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  std::ostringstream s;
  s << in.rdbuf();
  return s.str();
}

bool is_ident_char(char c) {
  return std::isalnum(static_cast<unsigned char>(c)) || c == '_';
}

// Tokens of `text`: identifiers and numbers, "::", and single punctuation
// characters. Comments, string and character literals and preprocessor
// lines are left out.
std::vector<std::string> tokenize(const std::string& text) {
  std::vector<std::string> out;
  std::size_t i = 0;
  bool line_start = true;
  while (i < text.size()) {
    const char c = text[i];
    if (c == '\n') {
      line_start = true;
      ++i;
      continue;
    }
    if (std::isspace(static_cast<unsigned char>(c))) {
      ++i;
      continue;
    }
    if (line_start && c == '#') {  // preprocessor line (with continuations)
      while (i < text.size() && (text[i] != '\n' || text[i - 1] == '\\')) ++i;
      continue;
    }
    line_start = false;
    if (text.compare(i, 2, "//") == 0) {
      while (i < text.size() && text[i] != '\n') ++i;
    } else if (text.compare(i, 2, "/*") == 0) {
      const std::size_t end = text.find("*/", i + 2);
      i = end == std::string::npos ? text.size() : end + 2;
    } else if (c == '"' || c == '\'') {
      for (++i; i < text.size() && text[i] != c; ++i) {
        if (text[i] == '\\') ++i;
      }
      ++i;
      out.emplace_back("\"\"");
    } else if (is_ident_char(c)) {
      const std::size_t start = i;
      while (i < text.size() && is_ident_char(text[i])) ++i;
      out.push_back(text.substr(start, i - start));
    } else if (text.compare(i, 2, "::") == 0) {
      out.emplace_back("::");
      i += 2;
    } else {
      out.emplace_back(1, c);
      ++i;
    }
  }
  return out;
}

bool is_identifier(const std::string& t) {
  return !t.empty() && (std::isalpha(static_cast<unsigned char>(t[0])) || t[0] == '_');
}

// Drops leading `template <...>`, `requires (...)` / `requires X` and
// `friend` from a statement.
std::vector<std::string> strip_prefixes(std::vector<std::string> st) {
  for (bool again = true; again && !st.empty();) {
    again = false;
    if (st[0] == "template" && st.size() > 1 && st[1] == "<") {
      int depth = 0;
      std::size_t j = 1;
      for (; j < st.size(); ++j) {
        if (st[j] == "<") ++depth;
        if (st[j] == ">" && --depth == 0) break;
      }
      st.erase(st.begin(), st.begin() + static_cast<std::ptrdiff_t>(std::min(j + 1, st.size())));
      again = true;
    } else if (st[0] == "requires") {
      std::size_t j = 1;
      if (j < st.size() && st[j] == "(") {
        int depth = 0;
        for (; j < st.size(); ++j) {
          if (st[j] == "(") ++depth;
          if (st[j] == ")" && --depth == 0) break;
        }
        ++j;
      } else {
        while (j < st.size() && (is_identifier(st[j]) || st[j] == "::")) ++j;
      }
      st.erase(st.begin(), st.begin() + static_cast<std::ptrdiff_t>(std::min(j, st.size())));
      again = true;
    } else if (st[0] == "friend") {
      st.erase(st.begin());
      again = true;
    }
  }
  return st;
}

const std::set<std::string> class_keys = {"class", "struct", "union", "enum"};

// The name a statement (tokens up to, not including, its ';' or '{')
// declares, or "" for none worth documenting (operators, constructors,
// destructors, static_asserts, using-directives).
std::string declared_name(std::vector<std::string> st, const std::string& enclosing_class) {
  st = strip_prefixes(std::move(st));
  if (st.empty() || st[0] == "static_assert") return "";
  if (class_keys.count(st[0])) {
    std::string name;
    int angle = 0;
    for (std::size_t j = 1; j < st.size(); ++j) {
      const std::string& t = st[j];
      if (t == "<") ++angle;
      if (t == ">") --angle;
      if (angle == 0 && t == ":") break;  // base clause or enum base
      if (angle == 0 && is_identifier(t) && t != "class" && t != "final") name = t;
    }
    return name;
  }
  if (st[0] == "using") {
    if (st.size() > 2 && st[2] == "=") return st[1];
    return "";
  }
  int angle = 0;
  for (std::size_t j = 0; j < st.size(); ++j) {
    const std::string& t = st[j];
    if (t == "<") ++angle;
    if (t == ">") --angle;
    if (angle != 0) continue;
    if (t == "operator") return "";
    if (t == "(") {
      if (j == 0 || !is_identifier(st[j - 1])) return "";
      if (j >= 2 && st[j - 2] == "~") return "";  // destructor
      const std::string& name = st[j - 1];
      if (name == enclosing_class || name == "alignas" || name == "decltype") return "";
      return name;
    }
    if (t == "=" || t == "{") break;
  }
  // A data member or variable: the last identifier before any initialiser.
  std::string name;
  angle = 0;
  for (const std::string& t : st) {
    if (t == "<") ++angle;
    if (t == ">") --angle;
    if (angle == 0 && (t == "=" || t == "{" || t == "[")) break;
    if (angle == 0 && is_identifier(t)) name = t;
  }
  return name;
}

// One open brace of the scan.
struct scope {
  enum kind_t { ns, cls, skipped } kind;
  std::string name;        // of the class
  bool public_now = true;  // in a class: the current access is public
};

// The names the public headers declare for users, each with its header.
std::vector<std::pair<std::string, std::string>> public_names() {
  std::vector<std::pair<std::string, std::string>> names;
  const fs::path api = source_dir / "api" / "spindle";
  std::vector<fs::path> headers;
  for (const auto& e : fs::recursive_directory_iterator(api)) {
    if (e.path().extension() != ".hpp") continue;
    if (e.path().parent_path().filename() == "detail") continue;
    headers.push_back(e.path());
  }
  std::sort(headers.begin(), headers.end());
  for (const fs::path& h : headers) {
    const std::vector<std::string> toks = tokenize(read_file(h));
    const std::string rel = fs::relative(h, source_dir / "api").string();
    std::vector<scope> stack;
    std::vector<std::string> st;  // the statement being read
    auto visible = [&] {
      for (const scope& s : stack) {
        if (s.kind == scope::skipped) return false;
        if (s.kind == scope::ns && s.name == "detail") return false;
        if (s.kind == scope::cls && !s.public_now) return false;
      }
      return true;
    };
    auto emit = [&] {
      if (visible()) {
        const std::string enclosing =
            !stack.empty() && stack.back().kind == scope::cls ? stack.back().name : std::string();
        std::string n = declared_name(st, enclosing);
        if (!n.empty() && n[0] != '_') names.emplace_back(n, rel);
      }
    };
    int parens = 0;  // inside (...) braces are default arguments, not scopes
    for (std::size_t i = 0; i < toks.size(); ++i) {
      const std::string& t = toks[i];
      if (!stack.empty() && stack.back().kind == scope::skipped) {
        if (t == "{") stack.push_back({scope::skipped, "", false});
        if (t == "}") stack.pop_back();
        continue;
      }
      if (t == "(") ++parens;
      if (t == ")") --parens;
      if (parens > 0) {
        st.push_back(t);
      } else if (t == ";") {
        emit();
        st.clear();
      } else if (t == "{") {
        const std::vector<std::string> head = strip_prefixes(st);
        if (!head.empty() && head[0] == "namespace") {
          std::string name;
          for (std::size_t j = 1; j < head.size(); ++j) {
            if (is_identifier(head[j])) name = head[j];  // spindle::net -> net
          }
          stack.push_back({scope::ns, name, true});
        } else if (!head.empty() && class_keys.count(head[0]) &&
                   std::find(head.begin(), head.end(), "(") == head.end()) {
          emit();
          const std::string name = declared_name(st, "");
          stack.push_back({scope::cls, name, head[0] != "class"});
        } else {
          emit();  // a function (or variable) defined here: its body is skipped
          stack.push_back({scope::skipped, "", false});
        }
        st.clear();
      } else if (t == "}") {
        if (!stack.empty()) stack.pop_back();
        st.clear();
      } else if ((t == "public" || t == "private" || t == "protected") && st.empty() &&
                 i + 1 < toks.size() && toks[i + 1] == ":") {
        if (!stack.empty()) stack.back().public_now = t == "public";
        ++i;
      } else {
        st.push_back(t);
      }
    }
  }
  return names;
}

bool mentions(const std::string& doc, const std::string& name) {
  for (std::size_t at = doc.find(name); at != std::string::npos; at = doc.find(name, at + 1)) {
    const bool left = at == 0 || !is_ident_char(doc[at - 1]);
    const bool right = at + name.size() >= doc.size() || !is_ident_char(doc[at + name.size()]);
    if (left && right) return true;
  }
  return false;
}

TEST(ApiDoc, TheScanFindsTheNamesItMust) {
  // Guards the scanner itself: if it stopped seeing declarations, the next
  // test could not fail.
  std::set<std::string> found;
  for (const auto& [name, header] : public_names()) found.insert(name);
  for (const char* n : {"runtime",   "options",     "stack_size",    "spawn",    "block_on",
                        "join",      "mutex",       "try_lock_for",  "channel",  "send_for",
                        "select",    "on_recv",     "promise",       "when_all", "tcp_stream",
                        "read_some", "recv_result", "wait_readable", "yield",    "sleep_for"}) {
    EXPECT_TRUE(found.count(n)) << n;
  }
  for (const char* n : {"state_", "spin_", "lock_slow", "chan_state", "waiter"}) {
    EXPECT_FALSE(found.count(n)) << n << " is private or detail:: and must not be required";
  }
}

TEST(ApiDoc, EveryPublicNameIsInApiMd) {
  const std::string doc = read_file(source_dir / "docs" / "API.md");
  ASSERT_FALSE(doc.empty()) << "docs/API.md is missing";
  std::set<std::string> missing;
  for (const auto& [name, header] : public_names()) {
    if (!mentions(doc, name)) missing.insert(name + " (" + header + ")");
  }
  std::string list;
  for (const std::string& m : missing) list += "\n  " + m;
  EXPECT_TRUE(missing.empty()) << "docs/API.md does not mention:" << list;
}

TEST(ApiDoc, NoFileReferstoTheDevelopersSharedFolder) {
  const std::string needle = std::string("..") + "/shared";
  std::vector<std::string> offenders;
  for (auto it = fs::recursive_directory_iterator(source_dir);
       it != fs::recursive_directory_iterator(); ++it) {
    const std::string name = it->path().filename().string();
    if (it->is_directory() && (name == ".git" || name.rfind("build", 0) == 0)) {
      it.disable_recursion_pending();
      continue;
    }
    if (!it->is_regular_file()) continue;
    if (read_file(it->path()).find(needle) != std::string::npos) {
      offenders.push_back(fs::relative(it->path(), source_dir).string());
    }
  }
  std::string list;
  for (const std::string& o : offenders) list += "\n  " + o;
  EXPECT_TRUE(offenders.empty()) << "these files refer to " << needle << ":" << list;
}

}  // namespace
