// crawler: fetches http:// URLs, a fiber per URL, at most C at a time (a
// spindle::semaphore), each fetch (name lookup, connect, request, redirects,
// body) bounded as a whole by spindle::with_timeout; optionally follows the
// links of HTML pages on the same host as the pages come in, each URL once.
//
//   crawler [URL...] [--file F] [--concurrency C] [--timeout-ms T] [--max-redirects R]
//           [--max-body B] [--follow-links D] [--max-urls M] [--workers W]
//       Fetches every URL given (and those of file F, one a line; blank lines
//       and lines starting with # are skipped) with HTTP/1.1 GET,
//       "Connection: close": C at a time (default 8), each within T ms
//       (default 10000). Bodies with Content-Length, chunked
//       (Transfer-Encoding: chunked, read strictly: a malformed chunk is an
//       error for that URL) or up to the end of the connection, at most B
//       bytes (default 8 MiB; more is an error for that URL). Follows up to R
//       redirects (301, 302, 303, 307, 308 with a Location, absolute or
//       relative; default 5; one more is an error). With D > 0 the href links
//       of text/html pages that stay on the page's host and port are crawled
//       too, up to D links away from a given URL, each URL once, at most M
//       URLs in all (default 10000). Prints a table (URL, status, bytes, ms,
//       redirects or the error) and exits 0 if every URL was fetched with a
//       status below 400, 1 if not, 2 for bad options or a URL that is not
//       http://host[:port][/path].
//   crawler --self-test
//       Crawls a site served in-process on a free port of 127.0.0.1: 20
//       pages linking to each other by absolute, relative and full links, a
//       chunked page, a redirect chain, a redirect loop, a page that never
//       answers, malformed and oversized bodies, a 404, a chain deeper than
//       the depth limit. Exits 0 if exactly the expected URLs were fetched,
//       each with its expected status, body size, redirects or error, and if
//       the same crawl with --max-urls 3 took 3.
#include <algorithm>
#include <array>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <deque>
#include <exception>
#include <fstream>
#include <map>
#include <optional>
#include <span>
#include <spindle/spindle.hpp>
#include <stdexcept>
#include <string>
#include <string_view>
#include <system_error>
#include <unordered_set>
#include <utility>
#include <vector>

#include "sample_support.hpp"

using namespace std::chrono_literals;
namespace net = spindle::net;
using std::chrono::milliseconds;

namespace {

struct settings {
  std::vector<std::string> urls;  // as given, checked by parse_url
  std::string file;
  bool self_test = false;
  int concurrency = 8;
  milliseconds timeout{10000};
  int max_redirects = 5;
  std::size_t max_body = 8 << 20;
  int follow_links = 0;  // depth
  int max_urls = 10000;
  std::size_t workers = 0;
};

constexpr const char* usage =
    "[URL...] [--file F] [--concurrency C] [--timeout-ms T] [--max-redirects R] "
    "[--max-body B] [--follow-links D] [--max-urls M] [--workers W] | --self-test";

// --- URLs ---------------------------------------------------------------------

std::string lower(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(),
                 [](unsigned char c) { return static_cast<char>(std::tolower(c)); });
  return out;
}

bool starts_with_nocase(std::string_view s, std::string_view prefix) {
  return s.size() >= prefix.size() && lower(s.substr(0, prefix.size())) == prefix;
}

// An http URL, normalised: the host in lower case, the path starting with
// "/" (the query included, the fragment dropped).
struct url {
  std::string host;  // a name, an IPv4 address, or an IPv6 address without brackets
  std::uint16_t port = 80;
  std::string path = "/";

  // host[:port], as in the Host header: the port only when it is not 80.
  std::string authority() const {
    std::string a = host.find(':') == std::string::npos ? host : "[" + host + "]";
    if (port != 80) a.append(":").append(std::to_string(port));
    return a;
  }
  std::string text() const { return "http://" + authority() + path; }
  bool same_site(const url& o) const { return host == o.host && port == o.port; }
};

// What a request line can carry: printable ASCII without spaces.
bool valid_path(std::string_view p) {
  return std::all_of(p.begin(), p.end(), [](unsigned char c) { return c > 0x20 && c < 0x7f; });
}

// Resolves "." and ".." segments of an absolute path (RFC 3986, 5.2.4); the
// query, if any, is kept as it is.
std::string remove_dot_segments(std::string_view path) {
  const auto q = path.find('?');
  const std::string_view query = q == std::string_view::npos ? "" : path.substr(q);
  path = path.substr(0, q);
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  for (std::size_t at = 1; at <= path.size();) {  // path[0] is the leading '/'
    const auto end = std::min(path.find('/', at), path.size());
    const std::string_view seg = path.substr(at, end - at);
    trailing_slash = end == path.size() && (seg == "." || seg == "..");
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
    } else if (seg != ".") {
      out.push_back(seg);
    }
    at = end + 1;
  }
  std::string result;
  for (const auto seg : out) result.append("/").append(seg);
  if (result.empty() || trailing_slash) result += "/";
  return result.append(query);
}

// An absolute http URL, or nullopt: another scheme, user info, a bad port,
// a character a request line cannot carry.
std::optional<url> parse_url(std::string_view s) {
  if (!starts_with_nocase(s, "http://")) return std::nullopt;
  s.remove_prefix(7);
  s = s.substr(0, s.find('#'));
  const auto auth_end = std::min(s.find_first_of("/?"), s.size());
  std::string_view auth = s.substr(0, auth_end);
  std::string_view rest = s.substr(auth_end);
  url u;
  std::string_view port;
  if (!auth.empty() && auth.front() == '[') {  // [IPv6]
    const auto close = auth.find(']');
    if (close == std::string_view::npos) return std::nullopt;
    u.host = lower(auth.substr(1, close - 1));
    auth.remove_prefix(close + 1);
    if (!auth.empty() && auth.front() != ':') return std::nullopt;
    if (!auth.empty()) port = auth.substr(1);
    if (u.host.find_first_not_of("0123456789abcdef:.") != std::string::npos) return std::nullopt;
  } else {
    const auto colon = auth.find(':');
    u.host = lower(auth.substr(0, colon));
    if (colon != std::string_view::npos) port = auth.substr(colon + 1);
    if (u.host.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-._") != std::string::npos) {
      return std::nullopt;
    }
  }
  if (u.host.empty()) return std::nullopt;
  if (auth.find(':') != std::string_view::npos || !port.empty()) {
    unsigned value = 0;
    const auto [end, err] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (port.empty() || err != std::errc() || end != port.data() + port.size() || value == 0 ||
        value > 65535) {
      return std::nullopt;
    }
    u.port = static_cast<std::uint16_t>(value);
  }
  if (rest.empty() || rest.front() == '?') {
    u.path = "/" + std::string(rest);
  } else {
    u.path = remove_dot_segments(rest);
  }
  if (!valid_path(u.path)) return std::nullopt;
  return u;
}

// The URL a reference (a Location header, an href) names, seen from the page
// `base`: absolute ("http://..."), scheme-relative ("//host/..."),
// absolute-path ("/a/b"), query ("?q") or relative ("b", "../c"). nullopt
// for another scheme (https:, mailto:, javascript:), a reference to the page
// itself ("", "#top"), or what parse_url refuses.
std::optional<url> resolve(const url& base, std::string_view ref) {
  while (!ref.empty() && std::isspace(static_cast<unsigned char>(ref.front())))
    ref.remove_prefix(1);
  while (!ref.empty() && std::isspace(static_cast<unsigned char>(ref.back()))) ref.remove_suffix(1);
  ref = ref.substr(0, ref.find('#'));
  if (ref.empty()) return std::nullopt;
  if (ref.substr(0, 2) == "//") return parse_url("http:" + std::string(ref));
  // A scheme: letters (and + - .) before the first ':', ahead of any / ? #.
  const auto colon = ref.find(':');
  if (colon != std::string_view::npos && colon < ref.find_first_of("/?") &&
      std::isalpha(static_cast<unsigned char>(ref.front()))) {
    return parse_url(ref);  // nullopt unless http://
  }
  url u = base;
  const std::string_view base_path = std::string_view(base.path).substr(0, base.path.find('?'));
  if (ref.front() == '/') {
    u.path = remove_dot_segments(ref);
  } else if (ref.front() == '?') {
    u.path = std::string(base_path).append(ref);
  } else {
    u.path =
        remove_dot_segments(std::string(base_path.substr(0, base_path.rfind('/') + 1)).append(ref));
  }
  if (!valid_path(u.path)) return std::nullopt;
  return u;
}

// --- HTTP ---------------------------------------------------------------------

// What a server sent, for an error message: in double quotes, at most 40
// bytes, anything but printable ASCII shown as '?' (it goes to a terminal).
std::string quoted(std::string_view s) {
  std::string q = "\"";
  for (const unsigned char c : s.substr(0, 40))
    q += c >= 0x20 && c < 0x7f ? static_cast<char>(c) : '?';
  return q + (s.size() > 40 ? "...\"" : "\"");
}

// A response that breaks the protocol or the limits: an error for its URL.
struct http_error : std::runtime_error {
  using std::runtime_error::runtime_error;
};

struct response {
  int status = 0;
  std::string content_type;  // lower case
  std::string location;
  std::string body;
};

// Longest line of a response head, and most lines in one.
constexpr std::size_t max_head_line = 16 * 1024;
constexpr int max_header_lines = 200;

using reader = net::buffered_reader<net::tcp_stream>;

// One line of a head (or of chunked framing), without its line end. The
// connection ending first is an error: a head is never cut short silently.
std::string read_head_line(reader& in) {
  std::optional<std::string> line = in.read_until('\n');
  if (!line || line->back() != '\n')
    throw http_error("the connection ended inside the response head");
  line->pop_back();
  if (!line->empty() && line->back() == '\r') line->pop_back();
  return std::move(*line);
}

std::string trim(std::string_view s) {
  const auto b = s.find_first_not_of(" \t");
  if (b == std::string_view::npos) return "";
  return std::string(s.substr(b, s.find_last_not_of(" \t") - b + 1));
}

// A whole decimal number, or nullopt (a sign, a space, anything else).
std::optional<std::size_t> parse_size(std::string_view s, int base) {
  std::size_t v = 0;
  const auto [end, err] = std::from_chars(s.data(), s.data() + s.size(), v, base);
  if (s.empty() || err != std::errc() || end != s.data() + s.size() || s.front() == '+' ||
      s.front() == '-') {
    return std::nullopt;
  }
  return v;
}

// Appends the chunked body to `body`: chunk sizes in hex (an extension after
// ';' is ignored), each chunk followed by CRLF, a last chunk of size 0, then
// trailer lines up to a blank one. Anything else is an error, and so is a
// body growing past `max_body` (checked before the chunk is read).
void read_chunked(reader& in, std::string& body, std::size_t max_body) {
  for (;;) {
    const std::string line = read_head_line(in);
    const std::string_view digits = std::string_view(line).substr(0, line.find(';'));
    const auto size = parse_size(digits, 16);
    if (!size) throw http_error("bad chunk size " + quoted(line));
    if (*size > max_body - body.size()) throw http_error("body larger than --max-body");
    if (*size == 0) break;
    const std::size_t have = body.size();
    body.resize(have + *size);
    in.read_exact(std::as_writable_bytes(std::span(body).subspan(have)));
    if (!read_head_line(in).empty()) throw http_error("a chunk longer than its size");
  }
  for (int i = 0; !read_head_line(in).empty(); ++i) {
    if (i == max_header_lines) throw http_error("too many trailer lines");
  }
}

// One GET of `u` on a connection of its own. Throws std::system_error for
// the connection's failures and http_error for a response that breaks the
// protocol or the limits.
response get(const url& u, std::size_t max_body) {
  auto s = net::tcp_stream::connect(u.host, u.port);
  s.write_all("GET " + u.path + " HTTP/1.1\r\nHost: " + u.authority() +
              "\r\nUser-Agent: spindle-crawler\r\nAccept: */*\r\nConnection: close\r\n\r\n");
  reader in(s, {.buffer_size = 16 * 1024, .max_line = max_head_line});
  response r;
  bool has_length = false;  // (not an optional: gcc 12 warns of its use as maybe uninitialised)
  std::size_t length = 0;
  bool chunked = false;
  do {  // 1xx responses are interim: the real one follows
    has_length = false;
    chunked = false;
    const std::string status = read_head_line(in);
    if (status.size() < 12 || status.compare(0, 7, "HTTP/1.") != 0 ||
        !std::isdigit(static_cast<unsigned char>(status[7])) || status[8] != ' ' ||
        (status.size() > 12 && status[12] != ' ') ||
        !std::all_of(status.begin() + 9, status.begin() + 12,
                     [](unsigned char c) { return std::isdigit(c); })) {
      throw http_error("bad status line " + quoted(status));
    }
    r.status = std::stoi(status.substr(9, 3));
    for (int lines = 0;; ++lines) {
      const std::string line = read_head_line(in);
      if (line.empty()) break;
      if (lines == max_header_lines) throw http_error("too many header lines");
      const auto colon = line.find(':');
      if (colon == std::string::npos || colon == 0) throw http_error("bad header line");
      const std::string name = lower(std::string_view(line).substr(0, colon));
      const std::string value = trim(std::string_view(line).substr(colon + 1));
      if (name == "content-length") {
        const auto n = parse_size(value, 10);
        if (!n || (has_length && length != *n)) throw http_error("bad Content-Length");
        has_length = true;
        length = *n;
      } else if (name == "transfer-encoding") {
        if (lower(value) != "chunked") {
          throw http_error("unsupported Transfer-Encoding " + quoted(value));
        }
        chunked = true;
      } else if (name == "content-type") {
        r.content_type = lower(value);
      } else if (name == "location") {
        r.location = value;
      }
    }
  } while (r.status < 200);
  if (r.status == 204 || r.status == 304) return r;
  if (chunked) {
    read_chunked(in, r.body, max_body);
  } else if (has_length) {
    if (length > max_body) throw http_error("body larger than --max-body");
    r.body.resize(length);
    in.read_exact(std::as_writable_bytes(std::span(r.body)));
  } else {  // the body ends with the connection
    std::array<char, 16 * 1024> buf;
    while (const std::size_t n = in.read_some(std::as_writable_bytes(std::span(buf)))) {
      if (n > max_body - r.body.size()) throw http_error("body larger than --max-body");
      r.body.append(buf.data(), n);
    }
  }
  return r;
}

bool is_redirect(int status) {
  return status == 301 || status == 302 || status == 303 || status == 307 || status == 308;
}

// The targets of the href attributes of an HTML page (quoted with " or ',
// or not quoted) that resolve to an http URL on the page's host and port.
std::vector<url> extract_links(const url& page, std::string_view html) {
  std::vector<url> links;
  const std::string text = lower(html);  // the same offsets, for finding "href"
  for (std::size_t at = 0; (at = text.find("href", at)) != std::string::npos;) {
    at += 4;
    std::size_t i = text.find_first_not_of(" \t\r\n", at);
    if (i == std::string::npos || text[i] != '=') continue;
    i = text.find_first_not_of(" \t\r\n", i + 1);
    if (i == std::string::npos) break;
    std::size_t end;
    if (text[i] == '"' || text[i] == '\'') {
      end = text.find(text[i], i + 1);
      ++i;
    } else {
      end = text.find_first_of(" \t\r\n>", i);
    }
    if (end == std::string::npos) break;
    std::string ref(html.substr(i, end - i));
    for (std::size_t amp; (amp = ref.find("&amp;")) != std::string::npos;) ref.erase(amp + 1, 4);
    if (auto u = resolve(page, ref); u && u->same_site(page)) links.push_back(std::move(*u));
    at = end;
  }
  return links;
}

// --- fetching and crawling ------------------------------------------------------

// What became of one URL.
struct outcome {
  std::string url;
  int depth = 0;
  int status = 0;  // of the last whole response; 0 if none came
  std::size_t bytes = 0;
  int redirects = 0;
  long long ms = 0;
  std::string error;  // empty: fetched

  bool failed() const { return !error.empty() || status >= 400; }
};

// Fetches `start`, following redirects, all of it within cfg.timeout. With
// `links`, the links of an HTML page at the end go there.
outcome fetch(const url& start, const settings& cfg, std::vector<url>* links) {
  outcome o;
  o.url = start.text();
  const auto t0 = std::chrono::steady_clock::now();
  try {
    const bool in_time = spindle::with_timeout(cfg.timeout, [&] {
      url current = start;
      for (;;) {
        response r = get(current, cfg.max_body);
        o.status = r.status;
        if (!is_redirect(r.status) || r.location.empty()) {
          o.bytes = r.body.size();
          if (links && r.content_type.rfind("text/html", 0) == 0) {
            *links = extract_links(current, r.body);
          }
          return;
        }
        if (o.redirects == cfg.max_redirects) {
          throw http_error("too many redirects");
        }
        auto next = resolve(current, r.location);
        if (!next) throw http_error("redirect to " + quoted(r.location) + ", not an http URL");
        current = std::move(*next);
        ++o.redirects;
      }
    });
    if (!in_time) o.error = "timed out after " + std::to_string(cfg.timeout.count()) + " ms";
  } catch (const std::system_error& e) {
    // The two a reader throws for the response, said in its terms.
    if (e.code() == std::errc::message_size) {
      o.error = "a head line longer than " + std::to_string(max_head_line) + " bytes";
    } else if (e.code() == std::errc::connection_aborted) {
      o.error = "the connection ended inside the body";
    } else {
      o.error = e.code().message();
    }
  } catch (const std::exception& e) {
    o.error = e.what();
  }
  o.ms = std::chrono::duration_cast<milliseconds>(std::chrono::steady_clock::now() - t0).count();
  return o;
}

// A crawl: a fiber per URL, at most cfg.concurrency fetching at once (the
// semaphore); each URL (its normalised text) is fetched once, found links
// are followed while their depth is within cfg.follow_links, and no more
// than cfg.max_urls URLs are taken in all. Call run() in a fiber.
class crawl {
 public:
  explicit crawl(const settings& cfg) : cfg_(cfg), slots_(cfg.concurrency) {}

  // Crawls from `seeds` (depth 0) and returns once every fiber is done.
  // Joining the fibers in the order they were spawned finds them all: a
  // fiber adds the fibers of its links before it ends, so once fiber i is
  // joined, those it added are in fibers_.
  std::vector<outcome> run(const std::vector<url>& seeds) {
    for (const url& u : seeds) add(u, 0);
    for (std::size_t i = 0;; ++i) {
      spindle::task<void> t;
      {
        std::lock_guard lock(mutex_);
        if (i == fibers_.size()) break;
        t = std::move(fibers_[i]);
      }
      t.join();
    }
    std::lock_guard lock(mutex_);
    return {results_.begin(), results_.end()};
  }

  // Links that were not followed: --max-urls was reached.
  long dropped() const noexcept { return dropped_.load(); }

 private:
  void add(const url& u, int depth) {
    std::lock_guard lock(mutex_);
    if (seen_.count(u.text()) != 0) return;
    if (seen_.size() == static_cast<std::size_t>(cfg_.max_urls)) {
      ++dropped_;
      return;
    }
    seen_.insert(u.text());
    const std::size_t index = results_.size();
    results_.emplace_back();
    fibers_.push_back(spindle::spawn([this, u, depth, index] { visit(u, depth, index); }));
  }

  void visit(const url& u, int depth, std::size_t index) {
    std::vector<url> links;
    slots_.acquire();
    outcome o = fetch(u, cfg_, depth < cfg_.follow_links ? &links : nullptr);
    slots_.release();
    o.depth = depth;
    {
      std::lock_guard lock(mutex_);
      results_[index] = std::move(o);  // a deque: the other elements stay put
    }
    for (const url& link : links) add(link, depth + 1);
  }

  const settings& cfg_;
  spindle::semaphore slots_;
  std::atomic<long> dropped_{0};
  spindle::mutex mutex_;  // guards everything below
  std::unordered_set<std::string> seen_;
  std::deque<outcome> results_;             // in the order the URLs were found
  std::deque<spindle::task<void>> fibers_;  // one per URL, results_'s order
};

void print_table(const std::vector<outcome>& results) {
  int width = 3;
  for (const auto& o : results) width = std::max(width, static_cast<int>(o.url.size()));
  std::printf("%-*s %6s %9s %7s  %s\n", width, "URL", "status", "bytes", "ms", "redirects / error");
  for (const auto& o : results) {
    const std::string status = o.status ? std::to_string(o.status) : "-";
    const std::string last =
        o.error.empty()
            ? std::to_string(o.redirects)
            : "error: " + o.error +
                  (o.redirects ? " (" + std::to_string(o.redirects) + " redirects)" : "");
    std::printf("%-*s %6s %9zu %7lld  %s\n", width, o.url.c_str(), status.c_str(), o.bytes, o.ms,
                last.c_str());
  }
}

// --- the self-test's site -----------------------------------------------------

constexpr int site_pages = 20;
constexpr int self_test_depth = 6;

std::string html(std::string_view title, std::string_view links) {
  return "<!doctype html>\n<html><head><title>" + std::string(title) + "</title></head>\n<body>\n" +
         std::string(links) + "</body></html>\n";
}

// The HTML pages of the site, by path ("" when none): /, /page/0..19 (a
// tree: page i links to 2i+1 by a relative link and to 2i+2 by an absolute
// path, and back to / and /page/0), /from-chunked, /redirect/landing,
// /deep/K (each links to the next, beyond any depth limit).
std::string site_page(const std::string& path, int port) {
  const std::string self = "http://127.0.0.1:" + std::to_string(port);
  if (path == "/") {
    return html("root",
                "<a href=\"/page/0\">pages</a> <a href='/chunked'>chunked</a>\n"
                "<a HREF = \"/redirect/1\">a redirect chain</a> <a href=/loop/1>a loop</a>\n"
                "<a href=\"/slow\">never answers</a> <a href=\"/bad-chunk\">bad chunk</a>\n"
                "<a href=\"/huge\">too large</a> <a href=\"/huge-chunked\">too large</a>\n"
                "<a href=\"/missing\">404</a> <a href=\"/deep/1\">deep</a> "
                "<a href=\"/plain\">text</a>\n"
                "not followed: <a href=\"https://127.0.0.1:" +
                    std::to_string(port) +
                    "/secure\">https</a> <a href=\"http://other.invalid/\">another host</a>\n"
                    "<a href=\"mailto:a@example.com\">mail</a> <a href=\"#top\">here</a> "
                    "<a href=\"/page/1#part\">a part of page 1</a>\n");
  }
  if (path.rfind("/page/", 0) == 0) {
    const int i = std::atoi(path.c_str() + 6);
    if (i < 0 || i >= site_pages || path != "/page/" + std::to_string(i)) return "";
    std::string links = "<a href=\"/\">home</a> <a href=\"" + self + "/page/0\">first</a>\n";
    if (2 * i + 1 < site_pages) links += "<a href=\"" + std::to_string(2 * i + 1) + "\">left</a>\n";
    if (2 * i + 2 < site_pages) {
      links += "<a href=\"/page/" + std::to_string(2 * i + 2) + "\">right</a>\n";
    }
    return html("page " + std::to_string(i), links);
  }
  if (path == "/from-chunked") return html("from chunked", "a leaf\n");
  if (path == "/redirect/landing") return html("landing", "<a href=\"../page/3\">page 3</a>\n");
  if (path.rfind("/deep/", 0) == 0) {
    const int k = std::atoi(path.c_str() + 6);
    if (k < 1 || path != "/deep/" + std::to_string(k)) return "";
    return html("deep " + std::to_string(k),
                "<a href=\"/deep/" + std::to_string(k + 1) + "\">deeper</a>\n");
  }
  return "";
}

std::string chunked_page() {
  return html("chunked", "<a href=\"/from-chunked\">from chunked</a>\n" + std::string(3000, '.'));
}

// The body of the chunked page in chunks of 1, 2, 4, ... bytes, one with an
// extension, then a trailer.
std::string chunked_encoding(std::string_view body) {
  std::string out;
  char size[32];
  for (std::size_t at = 0, n = 1; at < body.size(); at += n, n *= 2) {
    n = std::min(n, body.size() - at);
    std::snprintf(size, sizeof size, "%zx%s\r\n", n, at == 0 ? ";note=first" : "");
    out.append(size).append(body.substr(at, n)).append("\r\n");
  }
  return out + "0\r\nX-Trailer: yes\r\n\r\n";
}

std::string reply(std::string_view status, std::string_view headers, std::string_view body) {
  return "HTTP/1.1 " + std::string(status) + "\r\n" + std::string(headers) +
         "Content-Length: " + std::to_string(body.size()) + "\r\nConnection: close\r\n\r\n" +
         std::string(body);
}

// The response to GET `path`, or nullopt for the page that never answers.
std::optional<std::string> site_response(const std::string& path, int port) {
  if (const std::string page = site_page(path, port); !page.empty()) {
    return reply("200 OK", "Content-Type: text/html; charset=utf-8\r\n", page);
  }
  const std::string self = "http://127.0.0.1:" + std::to_string(port);
  constexpr std::string_view chunked_head =
      "HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n"
      "Connection: close\r\n\r\n";
  if (path == "/slow") return std::nullopt;
  if (path == "/chunked") return std::string(chunked_head) + chunked_encoding(chunked_page());
  if (path == "/bad-chunk")
    return std::string(chunked_head) + "5\r\nhello\r\nzz\r\nhello\r\n0\r\n\r\n";
  if (path == "/huge-chunked") return std::string(chunked_head) + "ffffffffffffffff\r\nhello\r\n";
  if (path == "/huge") return reply("200 OK", "", std::string(100000, 'x'));
  if (path == "/plain")
    return reply("200 OK", "Content-Type: text/plain\r\n", "<a href=\"/never\">");
  if (path == "/redirect/1") return reply("301 Moved", "Location: " + self + "/redirect/2\r\n", "");
  if (path == "/redirect/2") return reply("302 Found", "Location: /redirect/3\r\n", "");
  if (path == "/redirect/3") return reply("307 Temporary", "Location: landing\r\n", "");
  if (path == "/loop/1") return reply("302 Found", "Location: /loop/2\r\n", "");
  if (path == "/loop/2") return reply("308 Permanent", "Location: " + self + "/loop/1\r\n", "");
  return reply("404 Not Found", "Content-Type: text/plain\r\n", "not found\n");
}

// One connection of the site: a request head, its response, the end. The
// page that never answers reads until the client gives up.
void serve_site(net::tcp_stream& s, int port) {
  net::buffered_reader in(s);
  const auto request = in.read_line();
  if (!request) return;
  while (const auto line = in.read_line()) {
    if (line->empty()) break;
  }
  const auto sp = request->find(' ');
  const std::string path = request->substr(sp + 1, request->find(' ', sp + 1) - sp - 1);
  if (const auto r = site_response(path, port)) {
    s.write_all(*r);
    return;
  }
  std::array<std::byte, 512> sink;
  while (in.read_some(sink) > 0) {
  }
}

// What the crawl of the site must find: per URL, its status, body size,
// redirects and (a part of) its error.
struct expectation {
  int status;
  std::size_t bytes;
  int redirects;
  std::string error;
};

std::map<std::string, expectation> expected_site(int port) {
  const std::string self = "http://127.0.0.1:" + std::to_string(port);
  std::map<std::string, expectation> e;
  const auto page = [&](const std::string& path) {
    e[self + path] = {200, site_page(path, port).size(), 0, ""};
  };
  page("/");
  for (int i = 0; i < site_pages; ++i) page("/page/" + std::to_string(i));
  for (int k = 1; k <= self_test_depth; ++k) page("/deep/" + std::to_string(k));
  page("/from-chunked");
  e[self + "/chunked"] = {200, chunked_page().size(), 0, ""};
  e[self + "/redirect/1"] = {200, site_page("/redirect/landing", port).size(), 3, ""};
  // The 6th response of the loop, from /loop/2, is one redirect too many.
  e[self + "/loop/1"] = {308, 0, 5, "too many redirects"};
  e[self + "/slow"] = {0, 0, 0, "timed out"};
  e[self + "/bad-chunk"] = {0, 0, 0, "bad chunk size"};
  e[self + "/huge"] = {0, 0, 0, "larger than --max-body"};
  e[self + "/huge-chunked"] = {0, 0, 0, "larger than --max-body"};
  e[self + "/missing"] = {404, 10, 0, ""};
  e[self + "/plain"] = {200, std::string_view("<a href=\"/never\">").size(), 0, ""};
  return e;
}

int self_test(spindle::runtime& rt, settings cfg) {
  cfg.follow_links = self_test_depth;
  cfg.max_redirects = 5;  // the chain has 3; the loop stops at 5
  cfg.concurrency = 4;
  cfg.max_body = 64 * 1024;
  cfg.timeout = 1500ms;  // the page that never answers takes this long
  std::vector<outcome> results;
  int port = 0;
  settings bounded = cfg;  // the same crawl with --max-urls 3
  bounded.max_urls = 3;
  std::size_t bounded_crawled = 0;
  long bounded_dropped = 0;
  rt.block_on([&] {
    auto lst = net::tcp_listener::bind(spindle_samples::loopback(0));
    port = lst.local_endpoint().port();
    auto server = spindle::spawn([&lst, port] {
      spindle_samples::serve_connections(
          lst, 1min, [port](spindle_samples::connection& c) { serve_site(c.stream, port); });
    });
    const url root = *parse_url("http://127.0.0.1:" + std::to_string(port) + "/");
    crawl c(cfg);
    results = c.run({root});
    crawl small(bounded);
    bounded_crawled = small.run({root}).size();
    bounded_dropped = small.dropped();
    lst.close();
    server.join();
  });
  print_table(results);
  auto expected = expected_site(port);
  int wrong = 0;
  for (const auto& o : results) {
    const auto it = expected.find(o.url);
    if (it == expected.end()) {
      std::printf("not expected: %s\n", o.url.c_str());
      ++wrong;
      continue;
    }
    const expectation& x = it->second;
    if (o.status != x.status || o.bytes != x.bytes || o.redirects != x.redirects ||
        (x.error.empty() ? !o.error.empty() : o.error.find(x.error) == std::string::npos)) {
      std::printf(
          "wrong: %s: status %d, %zu bytes, %d redirects, \"%s\"; expected %d, %zu, %d, "
          "\"%s\"\n",
          o.url.c_str(), o.status, o.bytes, o.redirects, o.error.c_str(), x.status, x.bytes,
          x.redirects, x.error.c_str());
      ++wrong;
    }
    expected.erase(it);
  }
  for (const auto& [u, x] : expected) {
    std::printf("not fetched: %s\n", u.c_str());
    ++wrong;
  }
  std::printf("with --max-urls 3: %zu URLs crawled (3 expected), %ld links not followed\n",
              bounded_crawled, bounded_dropped);
  if (bounded_crawled != 3 || bounded_dropped == 0) ++wrong;
  std::printf("self-test: %zu URLs crawled, %d not as expected: %s\n", results.size(), wrong,
              wrong == 0 ? "OK" : "FAILED");
  return wrong == 0 ? 0 : 1;
}

// --- options --------------------------------------------------------------------

[[noreturn]] void refuse(const char* program, const std::string& why) {
  std::fprintf(stderr, "%s: %s\n", program, why.c_str());
  spindle_samples::exit_with_usage(program, usage, false);
}

// The URLs, --file and --self-test are taken out first; the numeric options
// (each with its value) are left to parse_options.
settings parse_args(int argc, char** argv) {
  settings s;
  std::vector<char*> numeric{argv[0]};
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--self-test") {
      s.self_test = true;
    } else if (arg == "--file") {
      if (i + 1 == argc || argv[i + 1][0] == '\0') refuse(argv[0], "--file needs a file name");
      s.file = argv[++i];
    } else if (arg.rfind("--", 0) == 0) {
      numeric.push_back(argv[i]);
      if (i + 1 < argc) numeric.push_back(argv[++i]);
    } else {
      s.urls.emplace_back(arg);
    }
  }
  using spindle_samples::number;
  spindle_samples::parse_options(
      static_cast<int>(numeric.size()), numeric.data(), usage,
      {number("--concurrency", s.concurrency, 1, 100000),
       {"--timeout-ms", 1, 3600000, [&s](long long v) { s.timeout = milliseconds(v); }},
       number("--max-redirects", s.max_redirects, 0, 100),
       number("--max-body", s.max_body, 1, 1LL << 32),
       number("--follow-links", s.follow_links, 0, 1000),
       number("--max-urls", s.max_urls, 1, 10000000),
       number("--workers", s.workers, 0, 1024)});
  if (s.self_test) {
    if (!s.urls.empty() || !s.file.empty()) refuse(argv[0], "--self-test takes no URLs");
    return s;
  }
  if (!s.file.empty()) {
    std::ifstream in(s.file);
    if (!in) refuse(argv[0], "cannot read " + s.file + ": " + std::strerror(errno));
    for (std::string line; std::getline(in, line);) {
      line = trim(line);
      if (!line.empty() && line.back() == '\r') line.pop_back();
      if (!line.empty() && line.front() != '#') s.urls.push_back(line);
    }
  }
  if (s.urls.empty()) refuse(argv[0], "no URLs to fetch");
  for (const auto& u : s.urls) {
    if (!parse_url(u)) refuse(argv[0], "not an http://host[:port][/path] URL: \"" + u + "\"");
  }
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const settings cfg = parse_args(argc, argv);
  spindle::runtime rt(spindle::options{.workers = cfg.workers});
  if (cfg.self_test) return self_test(rt, cfg);
  std::vector<url> seeds;
  for (const auto& u : cfg.urls) seeds.push_back(*parse_url(u));
  std::vector<outcome> results;
  long dropped = 0;
  rt.block_on([&] {
    crawl c(cfg);
    results = c.run(seeds);
    dropped = c.dropped();
  });
  print_table(results);
  const auto failed =
      std::count_if(results.begin(), results.end(), [](const outcome& o) { return o.failed(); });
  std::printf("%zu URLs: %zu fetched, %zu failed", results.size(),
              results.size() - static_cast<std::size_t>(failed), static_cast<std::size_t>(failed));
  if (dropped > 0) std::printf(", %ld links not followed (--max-urls %d)", dropped, cfg.max_urls);
  std::printf("\n");
  return failed == 0 ? 0 : 1;
}
