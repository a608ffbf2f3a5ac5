// Ingest's native engine: a batch of JSON lines checked, made canonical and hashed in C++,
// the good ones handed back as Arrow column buffers. See archive/ingest_native.py.
//
// It accepts a line only when it can prove the stored row is the one the full path
// (archive.sources.jsonl.parse_record, then archive.record.check) gives, byte for byte:
// same columns, same canonical JSON (sorted keys, no spaces, orjson's string escapes and
// float digits), same content hash. Anything else is left to the Python paths (the msgspec
// fast path, then the full checker, which gives every reason). Parsing is simdjson's
// (Langdale & Lemire, "Parsing gigabytes of JSON per second", VLDB Journal 2019);
// SHA-256 is OpenSSL's.
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <openssl/evp.h>
#include <simdjson.h>

#include <algorithm>
#ifdef __SSE2__
#include <emmintrin.h>
#endif
#include <charconv>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

using namespace std::string_view_literals;
using simdjson::dom::array;
using simdjson::dom::element;
using simdjson::dom::element_type;
using simdjson::dom::object;

namespace {

// ---------------------------------------------------------------- columns

struct StrCol {
  std::vector<int64_t> off{0};
  std::string data;
  std::vector<uint8_t> valid;
  void push(std::string_view s) {
    data.append(s.data(), s.size());
    off.push_back((int64_t)data.size());
    valid.push_back(1);
  }
  void push_null() {
    off.push_back((int64_t)data.size());
    valid.push_back(0);
  }
};

struct IntCol {
  std::vector<int64_t> v;
  std::vector<uint8_t> valid;
  void push(int64_t x) { v.push_back(x); valid.push_back(1); }
  void push_null() { v.push_back(0); valid.push_back(0); }
};

// The string columns of a record, in this order (archive.ingest_native.STRING_COLUMNS).
enum { C_ID, C_SOURCE, C_AUTHOR, C_TITLE, C_PROMPT, C_LICENSE, C_RECORD, C_HASH, N_STR };
enum { T_CREATED, T_FETCHED, N_TIME };  // times as microseconds since 1970 (UTC)
enum { M_VIEWS, M_LIKES, M_REMIXES, M_COMMENTS, N_INT };

struct Columns {
  StrCol s[N_STR];
  IntCol t[N_TIME];
  IntCol m[N_INT];
  std::vector<int32_t> tag_off{0};
  StrCol tags;
  std::vector<int32_t> par_off{0};
  StrCol par_id, par_rel, par_ev;
  std::vector<double> par_conf;
  int64_t rows = 0;
};

// ---------------------------------------------------------------- canonical JSON

// Where the first byte that JSON must escape (a control character, '"' or '\\') is, from `i` on.
size_t next_escape(const char *p, size_t i, size_t n) {
#ifdef __SSE2__
  const __m128i quote = _mm_set1_epi8('"'), slash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
  const __m128i flip = _mm_set1_epi8((char)0x80);
  for (; i + 16 <= n; i += 16) {
    __m128i v = _mm_loadu_si128((const __m128i *)(p + i));
    // unsigned v < 0x20 as a signed compare on bytes with the top bit flipped
    __m128i ctl = _mm_cmplt_epi8(_mm_xor_si128(v, flip), _mm_xor_si128(space, flip));
    __m128i hit = _mm_or_si128(ctl, _mm_or_si128(_mm_cmpeq_epi8(v, quote), _mm_cmpeq_epi8(v, slash)));
    int mask = _mm_movemask_epi8(hit);
    if (mask) return i + (size_t)__builtin_ctz((unsigned)mask);
  }
#endif
  for (; i < n; i++) {
    unsigned char c = (unsigned char)p[i];
    if (c < 0x20 || c == '"' || c == '\\') return i;
  }
  return n;
}

void put_string(std::string &out, std::string_view s) {
  static const char hex[] = "0123456789abcdef";
  out.push_back('"');
  size_t start = 0, n = s.size();
  const char *p = s.data();
  for (size_t i = next_escape(p, 0, n); i < n; i = next_escape(p, i + 1, n)) {
    unsigned char c = (unsigned char)p[i];
    out.append(p + start, i - start);
    start = i + 1;
    switch (c) {
      case '"': out.append("\\\""); break;
      case '\\': out.append("\\\\"); break;
      case '\b': out.append("\\b"); break;
      case '\f': out.append("\\f"); break;
      case '\n': out.append("\\n"); break;
      case '\r': out.append("\\r"); break;
      case '\t': out.append("\\t"); break;
      default:
        out.append("\\u00");
        out.push_back(hex[c >> 4]);
        out.push_back(hex[c & 15]);
    }
  }
  out.append(p + start, n - start);
  out.push_back('"');
}

// Integers whose decimal form has 19 digits or more are left to the full path, which keeps
// integers beyond 64 bits exact (the msgspec path refuses the same ones).
constexpr int64_t INT_LIMIT = 1000000000000000000LL;

bool put_int(std::string &out, int64_t v) {
  if (v >= INT_LIMIT || v <= -INT_LIMIT) return false;
  char buf[24];
  auto r = std::to_chars(buf, buf + sizeof buf, v);
  out.append(buf, r.ptr - buf);
  return true;
}

// A float as orjson writes it: the shortest digits that read back the same, in positional
// notation, with ".0" when whole. Only where orjson writes no exponent and the sign is not -0.0
// (a test holds the range against orjson); elsewhere the line takes the Python paths.
bool put_float(std::string &out, double d) {
  if (!std::isfinite(d)) return false;
  double a = std::fabs(d);
  if (a == 0.0) {
    if (std::signbit(d)) return false;
    out.append("0.0");
    return true;
  }
  if (a < 1e-4 || a >= 1e16) return false;
  char buf[64];
  auto r = std::to_chars(buf, buf + sizeof buf, d, std::chars_format::fixed);
  if (r.ec != std::errc()) return false;
  std::string_view s(buf, r.ptr - buf);
  out.append(s);
  if (s.find('.') == std::string_view::npos) out.append(".0");
  return true;
}

bool put_any(std::string &out, element e, int depth);

using Fields_ = std::vector<std::pair<std::string_view, element>>;
thread_local std::vector<Fields_> sort_space(66);  // one list of an object's fields per nesting depth, kept

bool put_object(std::string &out, object o, int depth) {
  Fields_ &kv = sort_space[(size_t)depth];
  kv.clear();
  for (auto field : o) kv.emplace_back(field.key, field.value);
  std::sort(kv.begin(), kv.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
  out.push_back('{');
  for (size_t i = 0; i < kv.size(); i++) {
    if (i) {
      if (kv[i].first == kv[i - 1].first) return false;  // a key given twice: the full path decides
      out.push_back(',');
    }
    put_string(out, kv[i].first);
    out.push_back(':');
    if (!put_any(out, kv[i].second, depth + 1)) return false;
  }
  out.push_back('}');
  return true;
}

bool put_any(std::string &out, element e, int depth) {
  if (depth > 64) return false;  // deep nesting: the Python paths (and their limits) decide
  switch (e.type()) {
    case element_type::OBJECT: return put_object(out, object(e), depth);
    case element_type::ARRAY: {
      out.push_back('[');
      bool first = true;
      for (element x : array(e)) {
        if (!first) out.push_back(',');
        first = false;
        if (!put_any(out, x, depth + 1)) return false;
      }
      out.push_back(']');
      return true;
    }
    case element_type::STRING: put_string(out, std::string_view(e)); return true;
    case element_type::INT64: return put_int(out, int64_t(e));
    case element_type::UINT64: return false;
    case element_type::DOUBLE: return put_float(out, double(e));
    case element_type::BOOL: out.append(bool(e) ? "true" : "false"); return true;
    case element_type::NULL_VALUE: out.append("null"); return true;
  }
  return false;
}

// ---------------------------------------------------------------- checks

// [A-Za-z0-9][A-Za-z0-9_.\-]*:. and at most 1024 bytes (archive.record's id rule)
bool id_ok(std::string_view s) {
  if (s.empty() || s.size() > 1024) return false;
  auto alnum = [](unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); };
  if (!alnum((unsigned char)s[0])) return false;
  for (size_t i = 1; i < s.size(); i++) {
    unsigned char c = (unsigned char)s[i];
    if (c == ':') return i + 1 < s.size();
    if (!(alnum(c) || c == '_' || c == '.' || c == '-')) return false;
  }
  return false;
}

int digits(std::string_view s, size_t at, size_t n) {
  int v = 0;
  for (size_t i = at; i < at + n; i++) {
    unsigned char c = (unsigned char)s[i];
    if (c < '0' || c > '9') return -1;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Days from 1970-01-01 to a proleptic Gregorian date (H. Hinnant's days_from_civil).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = (unsigned)(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + (int64_t)doe - 719468;
}

// A time exactly as archive.record.format_time writes it: YYYY-MM-DDTHH:MM:SS[.ffffff]Z
// (a zero fraction written without one), on a date that exists; `us` gets it in microseconds
// since 1970-01-01T00:00:00Z.
bool time_ok(std::string_view s, int64_t &us) {
  if (s.size() != 20 && s.size() != 27) return false;
  if (s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s.back() != 'Z') return false;
  int y = digits(s, 0, 4), mo = digits(s, 5, 2), d = digits(s, 8, 2);
  int h = digits(s, 11, 2), mi = digits(s, 14, 2), se = digits(s, 17, 2);
  if (y < 1 || mo < 1 || mo > 12 || d < 1 || h < 0 || h > 23 || mi < 0 || mi > 59 || se < 0 || se > 59) return false;
  static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  int dim = mdays[mo - 1] + (mo == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0));
  if (d > dim) return false;
  int f = 0;
  if (s.size() == 27) {
    if (s[19] != '.') return false;
    f = digits(s, 20, 6);
    if (f <= 0) return false;  // not digits, or .000000 (written without a fraction)
  }
  us = ((days_from_civil(y, (unsigned)mo, (unsigned)d) * 24 + h) * 60 + mi) * 60 + se;
  us = us * 1000000 + f;
  return true;
}

// ---------------------------------------------------------------- one record

struct Fields {
  std::string_view str[8];  // id, source, created_at, fetched_at, author, title, prompt, license
  bool has[8] = {};
  element parents, style_tags, media, metrics, consent, provenance, extra;
  bool has_parents = false, has_tags = false, has_media = false, has_metrics = false;
  bool has_consent = false, has_provenance = false, has_extra = false;
};

enum Key { K_ID, K_SOURCE, K_CREATED, K_FETCHED, K_AUTHOR, K_TITLE, K_PROMPT, K_LICENSE,
           K_PARENTS, K_TAGS, K_MEDIA, K_METRICS, K_CONSENT, K_PROVENANCE, K_EXTRA, K_UNKNOWN };

Key key_of(std::string_view k) {
  switch (k.size()) {
    case 2: if (k == "id") return K_ID; break;
    case 5: if (k == "title") return K_TITLE; if (k == "media") return K_MEDIA; if (k == "extra") return K_EXTRA; break;
    case 6: if (k == "source") return K_SOURCE; if (k == "author") return K_AUTHOR; if (k == "prompt") return K_PROMPT; break;
    case 7: if (k == "license") return K_LICENSE; if (k == "parents") return K_PARENTS; if (k == "metrics") return K_METRICS;
            if (k == "consent") return K_CONSENT; break;
    case 10: if (k == "created_at") return K_CREATED; if (k == "fetched_at") return K_FETCHED;
             if (k == "style_tags") return K_TAGS; if (k == "provenance") return K_PROVENANCE; break;
  }
  return K_UNKNOWN;
}

// A non-negative number for a media field: an integer stays one, a float stays one.
bool put_nonneg(std::string &out, element e) {
  if (e.type() == element_type::INT64) {
    int64_t v = int64_t(e);
    return v >= 0 && put_int(out, v);
  }
  if (e.type() == element_type::DOUBLE) {
    double v = double(e);
    return v >= 0 && put_float(out, v);
  }
  return false;
}

bool put_media(std::string &out, element m) {
  if (m.type() != element_type::ARRAY) return false;
  out.append("\"media\":[");
  bool first = true;
  for (element e : array(m)) {
    if (e.type() != element_type::OBJECT) return false;
    // fields in sorted order: bytes, duration_s, height, mime, sha256, url, width
    static constexpr std::string_view names[] = {"bytes"sv, "duration_s"sv, "height"sv, "mime"sv, "sha256"sv, "url"sv, "width"sv};
    static const bool numeric[] = {true, true, true, false, false, false, true};
    element val[7];
    bool has[7] = {};
    for (auto f : object(e)) {
      int k = -1;
      for (int i = 0; i < 7; i++)
        if (f.key == names[i]) { k = i; break; }
      if (k < 0 || has[k]) return false;  // unknown key, or given twice
      has[k] = true;
      val[k] = f.value;
    }
    if (!first) out.push_back(',');
    first = false;
    out.push_back('{');
    bool any = false;
    for (int i = 0; i < 7; i++) {
      if (!has[i]) continue;
      if (any) out.push_back(',');
      any = true;
      out.push_back('"');
      out.append(names[i].data(), names[i].size());
      out.append("\":"sv);
      if (numeric[i]) {
        if (!put_nonneg(out, val[i])) return false;
      } else {
        if (val[i].type() != element_type::STRING) return false;
        put_string(out, std::string_view(val[i]));
      }
    }
    out.push_back('}');
  }
  out.push_back(']');
  return true;
}

struct ParentRow {
  std::string_view id, rel, ev;
  double conf;
};

bool read_parents(element p, std::vector<ParentRow> &rows) {
  if (p.type() != element_type::ARRAY) return false;
  for (element e : array(p)) {
    if (e.type() != element_type::OBJECT) return false;
    ParentRow r{};
    int seen = 0;
    for (auto f : object(e)) {
      element v = f.value;
      if (f.key == "id") {
        if (seen & 1 || v.type() != element_type::STRING) return false;
        seen |= 1;
        r.id = std::string_view(v);
        if (!id_ok(r.id)) return false;
      } else if (f.key == "relation") {
        if (seen & 2 || v.type() != element_type::STRING) return false;
        seen |= 2;
        r.rel = std::string_view(v);
        if (r.rel != "remix" && r.rel != "parentOf" && r.rel != "componentOf" && r.rel != "inspired") return false;
      } else if (f.key == "evidence") {
        if (seen & 4 || v.type() != element_type::STRING) return false;
        seen |= 4;
        r.ev = std::string_view(v);
        if (r.ev != "declared" && r.ev != "c2pa" && r.ev != "inferred") return false;
      } else if (f.key == "confidence") {
        if (seen & 8) return false;
        seen |= 8;
        if (v.type() == element_type::INT64) r.conf = (double)int64_t(v);
        else if (v.type() == element_type::DOUBLE) r.conf = double(v);
        else return false;
        if (!(r.conf >= 0.0 && r.conf <= 1.0)) return false;
      } else {
        return false;
      }
    }
    if (seen != 15) return false;  // a default left out: the full path fills it
    rows.push_back(r);
  }
  return true;
}

struct Scratch {
  simdjson::dom::parser parser;
  std::vector<char> padded;  // the line copied with simdjson's padding after it
  std::vector<ParentRow> parents;
  std::vector<std::string_view> tags;
  int64_t metric[N_INT];
  bool metric_has[N_INT];
  EVP_MD_CTX *md = nullptr;
  Scratch() { md = EVP_MD_CTX_new(); }
  ~Scratch() { EVP_MD_CTX_free(md); }
};

// Check one line: 1 when good (its row appended to cols), 2 when blank (JSON Lines skips it),
// 0 when left to the Python paths (cols untouched).
int one(Scratch &S, const char *buf, size_t len, Columns &cols) {
  size_t ws = 0;
  while (ws < len && (buf[ws] == ' ' || buf[ws] == '\t' || buf[ws] == '\r' || buf[ws] == '\n')) ws++;
  if (ws == len) return 2;
  if (len >= 3 && (unsigned char)buf[0] == 0xEF && (unsigned char)buf[1] == 0xBB && (unsigned char)buf[2] == 0xBF)
    return false;  // a BOM: the full path names it
  if (S.padded.size() < len + simdjson::SIMDJSON_PADDING) S.padded.resize(2 * len + simdjson::SIMDJSON_PADDING);
  std::memcpy(S.padded.data(), buf, len);
  std::memset(S.padded.data() + len, 0, simdjson::SIMDJSON_PADDING);
  element doc;
  if (S.parser.parse(S.padded.data(), len, false).get(doc)) return false;
  if (doc.type() != element_type::OBJECT) return false;
  Fields F;
  for (auto f : object(doc)) {
    Key k = key_of(f.key);
    element v = f.value;
    if (k == K_UNKNOWN || v.type() == element_type::NULL_VALUE) return false;  // moved into extra / dropped
    if (k <= K_LICENSE) {
      if (F.has[k] || v.type() != element_type::STRING) return false;
      F.has[k] = true;
      F.str[k] = std::string_view(v);
      continue;
    }
    bool *flag = nullptr;
    element *slot = nullptr;
    switch (k) {
      case K_PARENTS: flag = &F.has_parents; slot = &F.parents; break;
      case K_TAGS: flag = &F.has_tags; slot = &F.style_tags; break;
      case K_MEDIA: flag = &F.has_media; slot = &F.media; break;
      case K_METRICS: flag = &F.has_metrics; slot = &F.metrics; break;
      case K_CONSENT: flag = &F.has_consent; slot = &F.consent; break;
      case K_PROVENANCE: flag = &F.has_provenance; slot = &F.provenance; break;
      case K_EXTRA: flag = &F.has_extra; slot = &F.extra; break;
      default: return false;
    }
    if (*flag) return false;
    *flag = true;
    *slot = v;
  }
  if (!F.has[K_ID] || !F.has[K_SOURCE] || !F.has[K_CREATED]) return false;
  int64_t created = 0, fetched = 0;
  if (F.str[K_SOURCE].empty() || !id_ok(F.str[K_ID]) || !time_ok(F.str[K_CREATED], created)) return false;
  if (F.has[K_FETCHED] && !time_ok(F.str[K_FETCHED], fetched)) return false;
  S.parents.clear();
  if (F.has_parents && !read_parents(F.parents, S.parents)) return false;
  S.tags.clear();
  if (F.has_tags) {
    if (F.style_tags.type() != element_type::ARRAY) return false;
    for (element t : array(F.style_tags)) {
      if (t.type() != element_type::STRING) return false;
      S.tags.push_back(std::string_view(t));
    }
  }
  for (int i = 0; i < N_INT; i++) S.metric_has[i] = false;
  if (F.has_metrics && F.metrics.type() != element_type::OBJECT) return false;
  if ((F.has_consent && F.consent.type() != element_type::OBJECT) ||
      (F.has_provenance && F.provenance.type() != element_type::OBJECT) ||
      (F.has_extra && F.extra.type() != element_type::OBJECT))
    return false;

  // canonical JSON, written straight into the record column (cut back if the line is refused)
  std::string &out = cols.s[C_RECORD].data;
  const size_t base = out.size();
  const bool wrote = [&]() -> bool {
  out.push_back('{');
  bool any = false;
  auto key = [&](std::string_view name) {
    if (any) out.push_back(',');
    any = true;
    out.push_back('"');
    out.append(name.data(), name.size());
    out.append("\":"sv);
  };
  auto str_field = [&](std::string_view name, int k) {
    if (!F.has[k]) return;
    key(name);
    put_string(out, F.str[k]);
  };
  str_field("author", K_AUTHOR);
  if (F.has_consent) { key("consent"); if (!put_object(out, object(F.consent), 1)) return false; }
  str_field("created_at", K_CREATED);
  if (F.has_extra) { key("extra"); if (!put_object(out, object(F.extra), 1)) return false; }
  str_field("fetched_at", K_FETCHED);
  str_field("id", K_ID);
  str_field("license", K_LICENSE);
  if (F.has_media) {
    if (any) out.push_back(',');
    any = true;
    if (!put_media(out, F.media)) return false;
  }
  if (F.has_metrics) {
    key("metrics");
    Fields_ &kv = sort_space[0];
    kv.clear();
    for (auto f : object(F.metrics)) kv.emplace_back(f.key, f.value);
    std::sort(kv.begin(), kv.end(), [](const auto &a, const auto &b) { return a.first < b.first; });
    out.push_back('{');
    for (size_t i = 0; i < kv.size(); i++) {
      if (i) {
        if (kv[i].first == kv[i - 1].first) return false;
        out.push_back(',');
      }
      element v = kv[i].second;
      if (v.type() != element_type::INT64) return false;
      int64_t x = int64_t(v);
      if (x < 0) return false;
      put_string(out, kv[i].first);
      out.push_back(':');
      if (!put_int(out, x)) return false;
      static constexpr std::string_view names[] = {"views"sv, "likes"sv, "remixes"sv, "comments"sv};
      for (int m = 0; m < N_INT; m++)
        if (kv[i].first == names[m]) { S.metric[m] = x; S.metric_has[m] = true; }
    }
    out.push_back('}');
  }
  if (F.has_parents) {
    key("parents");
    out.push_back('[');
    for (size_t i = 0; i < S.parents.size(); i++) {
      if (i) out.push_back(',');
      out.append("{\"confidence\":");
      if (!put_float(out, S.parents[i].conf)) return false;
      out.append(",\"evidence\":");
      put_string(out, S.parents[i].ev);
      out.append(",\"id\":");
      put_string(out, S.parents[i].id);
      out.append(",\"relation\":");
      put_string(out, S.parents[i].rel);
      out.push_back('}');
    }
    out.push_back(']');
  }
  str_field("prompt", K_PROMPT);
  if (F.has_provenance) { key("provenance"); if (!put_object(out, object(F.provenance), 1)) return false; }
  str_field("source", K_SOURCE);
  if (F.has_tags) {
    key("style_tags");
    out.push_back('[');
    for (size_t i = 0; i < S.tags.size(); i++) {
      if (i) out.push_back(',');
      put_string(out, S.tags[i]);
    }
    out.push_back(']');
  }
  str_field("title", K_TITLE);
  out.push_back('}');
  return true;
  }();
  if (!wrote) {
    out.resize(base);
    return 0;
  }
  const std::string_view canon(out.data() + base, out.size() - base);

  unsigned char md[EVP_MAX_MD_SIZE];
  unsigned int mdlen = 0;
  static EVP_MD *sha256 = EVP_MD_fetch(nullptr, "SHA2-256", nullptr);  // fetched once: no lookup per record
  if (!sha256 || !EVP_DigestInit_ex(S.md, sha256, nullptr) || !EVP_DigestUpdate(S.md, canon.data(), canon.size()) ||
      !EVP_DigestFinal_ex(S.md, md, &mdlen)) {
    out.resize(base);
    return 0;
  }
  char hexd[32];
  static const char hx[] = "0123456789abcdef";
  for (int i = 0; i < 16; i++) {
    hexd[2 * i] = hx[md[i] >> 4];
    hexd[2 * i + 1] = hx[md[i] & 15];
  }

  // the row
  static const int str_of[][2] = {{K_ID, C_ID}, {K_SOURCE, C_SOURCE}, {K_AUTHOR, C_AUTHOR}, {K_TITLE, C_TITLE},
                                  {K_PROMPT, C_PROMPT}, {K_LICENSE, C_LICENSE}};
  for (auto [k, c] : str_of) {
    if (F.has[k]) cols.s[c].push(F.str[k]);
    else cols.s[c].push_null();
  }
  cols.t[T_CREATED].push(created);
  if (F.has[K_FETCHED]) cols.t[T_FETCHED].push(fetched);
  else cols.t[T_FETCHED].push_null();
  cols.s[C_RECORD].off.push_back((int64_t)out.size());  // its text is in place already
  cols.s[C_RECORD].valid.push_back(1);
  cols.s[C_HASH].push(std::string_view(hexd, 32));
  for (int m = 0; m < N_INT; m++) {
    if (S.metric_has[m]) cols.m[m].push(S.metric[m]);
    else cols.m[m].push_null();
  }
  for (auto t : S.tags) cols.tags.push(t);
  cols.tag_off.push_back((int32_t)cols.tags.valid.size());
  for (auto &p : S.parents) {
    cols.par_id.push(p.id);
    cols.par_rel.push(p.rel);
    cols.par_ev.push(p.ev);
    cols.par_conf.push_back(p.conf);
  }
  cols.par_off.push_back((int32_t)cols.par_conf.size());
  cols.rows++;
  return true;
}

// ---------------------------------------------------------------- Python

PyObject *bytes_of(const void *p, size_t n) { return PyBytes_FromStringAndSize((const char *)p, (Py_ssize_t)n); }

// A column buffer handed to Python without a copy: it owns the C++ container and exposes its
// bytes through the buffer protocol (pyarrow.py_buffer keeps a reference to it).
struct Holder {
  virtual ~Holder() = default;
};
template <class T>
struct HolderOf : Holder {
  T v;
  explicit HolderOf(T &&x) : v(std::move(x)) {}
};

struct BufferObject {
  PyObject_HEAD Holder *holder;
  const void *data;
  Py_ssize_t size;
};

void buffer_dealloc(PyObject *self) {
  delete ((BufferObject *)self)->holder;
  Py_TYPE(self)->tp_free(self);
}

int buffer_get(PyObject *self, Py_buffer *view, int flags) {
  auto *b = (BufferObject *)self;
  return PyBuffer_FillInfo(view, self, const_cast<void *>(b->data), b->size, 1, flags);
}

PyBufferProcs buffer_procs = {buffer_get, nullptr};

PyTypeObject BufferType = [] {
  PyTypeObject t{PyVarObject_HEAD_INIT(nullptr, 0)};
  t.tp_name = "archive._ingest_native.Buffer";
  t.tp_basicsize = sizeof(BufferObject);
  t.tp_dealloc = buffer_dealloc;
  t.tp_as_buffer = &buffer_procs;
  t.tp_flags = Py_TPFLAGS_DEFAULT;
  t.tp_doc = "A column buffer of the native engine (read-only bytes, no copy).";
  return t;
}();

template <class T>
PyObject *owned(T &&container) {
  auto *h = new HolderOf<T>(std::move(container));
  auto *b = PyObject_New(BufferObject, &BufferType);
  if (!b) {
    delete h;
    return nullptr;
  }
  b->holder = h;
  static const char empty[8] = {};
  b->data = h->v.empty() ? (const void *)empty : (const void *)h->v.data();  // Arrow wants an address, even for none
  b->size = (Py_ssize_t)(h->v.size() * sizeof(h->v[0]));
  return (PyObject *)b;
}

// Arrow's validity bitmap, or None when every value is there.
PyObject *bitmap(const std::vector<uint8_t> &valid) {
  size_t n = valid.size();
  if (std::find(valid.begin(), valid.end(), 0) == valid.end()) Py_RETURN_NONE;
  std::vector<uint8_t> bits((n + 7) / 8, 0);
  for (size_t i = 0; i < n; i++)
    if (valid[i]) bits[i >> 3] |= (uint8_t)(1u << (i & 7));
  return owned(std::move(bits));
}

PyObject *str_col(StrCol &c) {
  return Py_BuildValue("(NNN)", bitmap(c.valid), owned(std::move(c.off)), owned(std::move(c.data)));
}

// Merge the second part's columns after the first's (offsets shifted).
void append_str(StrCol &a, const StrCol &b) {
  int64_t base = (int64_t)a.data.size();
  a.data.append(b.data);
  for (size_t i = 1; i < b.off.size(); i++) a.off.push_back(b.off[i] + base);
  a.valid.insert(a.valid.end(), b.valid.begin(), b.valid.end());
}

void append_cols(Columns &a, const Columns &b) {
  for (int k = 0; k < N_STR; k++) append_str(a.s[k], b.s[k]);
  for (int m = 0; m < N_INT; m++) {
    a.m[m].v.insert(a.m[m].v.end(), b.m[m].v.begin(), b.m[m].v.end());
    a.m[m].valid.insert(a.m[m].valid.end(), b.m[m].valid.begin(), b.m[m].valid.end());
  }
  for (int m = 0; m < N_TIME; m++) {
    a.t[m].v.insert(a.t[m].v.end(), b.t[m].v.begin(), b.t[m].v.end());
    a.t[m].valid.insert(a.t[m].valid.end(), b.t[m].valid.begin(), b.t[m].valid.end());
  }
  int32_t tb = (int32_t)a.tags.valid.size();
  append_str(a.tags, b.tags);
  for (size_t i = 1; i < b.tag_off.size(); i++) a.tag_off.push_back(b.tag_off[i] + tb);
  int32_t pb = (int32_t)a.par_conf.size();
  append_str(a.par_id, b.par_id);
  append_str(a.par_rel, b.par_rel);
  append_str(a.par_ev, b.par_ev);
  a.par_conf.insert(a.par_conf.end(), b.par_conf.begin(), b.par_conf.end());
  for (size_t i = 1; i < b.par_off.size(); i++) a.par_off.push_back(b.par_off[i] + pb);
  a.rows += b.rows;
}

void reserve(StrCol &c, size_t rows, size_t bytes) {
  c.off.reserve(rows + 1);
  c.valid.reserve(rows);
  c.data.reserve(bytes);
}

void run(const std::vector<std::string_view> &lines, size_t lo, size_t hi, Columns &cols, std::vector<uint8_t> &ok) {
  size_t rows = hi - lo, bytes = 0;
  for (size_t i = lo; i < hi; i++) bytes += lines[i].size();
  for (int k = 0; k < N_STR; k++) reserve(cols.s[k], rows, k == C_RECORD ? bytes + bytes / 8 : k == C_HASH ? 32 * rows : 0);
  for (int m = 0; m < N_INT; m++) { cols.m[m].v.reserve(rows); cols.m[m].valid.reserve(rows); }
  for (int m = 0; m < N_TIME; m++) { cols.t[m].v.reserve(rows); cols.t[m].valid.reserve(rows); }
  cols.tag_off.reserve(rows + 1);
  cols.par_off.reserve(rows + 1);
  Scratch S;
  for (size_t i = lo; i < hi; i++) ok[i] = (uint8_t)one(S, lines[i].data(), lines[i].size(), cols);
}

PyObject *check_lines(PyObject *, PyObject *args) {
  PyObject *seq;
  int threads = 1;
  if (!PyArg_ParseTuple(args, "O|i", &seq, &threads)) return nullptr;
  PyObject *fast = PySequence_Fast(seq, "check_lines takes a list of bytes");
  if (!fast) return nullptr;
  Py_ssize_t n = PySequence_Fast_GET_SIZE(fast);
  PyObject **items = PySequence_Fast_ITEMS(fast);
  std::vector<std::string_view> lines((size_t)n);
  for (Py_ssize_t i = 0; i < n; i++) {
    if (!PyBytes_Check(items[i])) {
      Py_DECREF(fast);
      PyErr_SetString(PyExc_TypeError, "check_lines takes a list of bytes");
      return nullptr;
    }
    lines[(size_t)i] = std::string_view(PyBytes_AS_STRING(items[i]), (size_t)PyBytes_GET_SIZE(items[i]));
  }
  // A C++ exception (memory running out) becomes Python's MemoryError: caught where it is thrown (on
  // the helper thread too, and before the GIL is taken back), never let through into the interpreter.
  bool failed = false;
  try {
    std::vector<uint8_t> ok((size_t)n, 0);
    Columns cols;
    Py_BEGIN_ALLOW_THREADS  // the bytes stay referenced by `fast`; nothing Python is touched
    try {
      if (threads < 2 || n < 2048) {
        run(lines, 0, (size_t)n, cols, ok);
      } else {
        size_t half = (size_t)n / 2;
        Columns second;
        bool second_failed = false;
        std::thread t([&] {
          try {
            run(lines, half, (size_t)n, second, ok);
          } catch (const std::exception &) {
            second_failed = true;
          }
        });
        try {
          run(lines, 0, half, cols, ok);
        } catch (const std::exception &) {
          failed = true;
        }
        t.join();
        failed = failed || second_failed;
        if (!failed) append_cols(cols, second);
      }
    } catch (const std::exception &) {
      failed = true;
    }
    Py_END_ALLOW_THREADS
    if (!failed) {
      Py_DECREF(fast);
      fast = nullptr;
      PyObject *strs = PyTuple_New(N_STR);
      for (int k = 0; k < N_STR; k++) PyTuple_SET_ITEM(strs, k, str_col(cols.s[k]));
      PyObject *times = PyTuple_New(N_TIME);
      for (int m = 0; m < N_TIME; m++)
        PyTuple_SET_ITEM(times, m, Py_BuildValue("(NN)", bitmap(cols.t[m].valid), owned(std::move(cols.t[m].v))));
      PyObject *ints = PyTuple_New(N_INT);
      for (int m = 0; m < N_INT; m++)
        PyTuple_SET_ITEM(ints, m, Py_BuildValue("(NN)", bitmap(cols.m[m].valid), owned(std::move(cols.m[m].v))));
      PyObject *tags = Py_BuildValue("(NN)", owned(std::move(cols.tag_off)),
                                     str_col(cols.tags));
      PyObject *pars = Py_BuildValue("(NNNNN)", owned(std::move(cols.par_off)),
                                     str_col(cols.par_id), str_col(cols.par_rel), str_col(cols.par_ev),
                                     owned(std::move(cols.par_conf)));
      return Py_BuildValue("(NLNNNNN)", bytes_of(ok.data(), ok.size()), (long long)cols.rows, strs, times, ints, tags,
                           pars);
    }
  } catch (const std::exception &) {
    failed = true;
  }
  Py_XDECREF(fast);
  PyErr_Format(PyExc_MemoryError, "the native ingest engine ran out of memory checking %zd line(s); "
               "a smaller --batch-size needs less", n);
  return nullptr;
}

PyMethodDef methods[] = {
    {"check_lines", check_lines, METH_VARARGS,
     "check_lines(lines, threads=1) -> (ok, rows, strings, times, ints, tags, parents): see archive/ingest_native.py"},
    {nullptr, nullptr, 0, nullptr}};

PyModuleDef module = {PyModuleDef_HEAD_INIT, "_ingest_native", "Ingest's native engine (see archive/ingest_native.py).",
                      -1, methods};

}  // namespace

PyMODINIT_FUNC PyInit__ingest_native(void) {
  if (PyType_Ready(&BufferType) < 0) return nullptr;
  return PyModule_Create(&module);
}
