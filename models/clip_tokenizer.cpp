// CLIP's BPE tokenizer: cleaning, pre-tokenisation over code points, byte-level BPE.
#include "models/clip_tokenizer.h"

#include <zlib.h>

#include <algorithm>
#include <climits>
#include <cstdlib>
#include <filesystem>

#include "engine/error.h"
#include "models/clip_tokenizer_unicode.h"

namespace iqa::models {

namespace {
namespace ut = unicode_tables;

bool in_ranges(const ut::CodeRange* table, size_t n, uint32_t cp) {
  const ut::CodeRange* end = table + n;
  const ut::CodeRange* it =
      std::upper_bound(table, end, cp, [](uint32_t c, const ut::CodeRange& r) { return c < r.first; });
  return it != table && cp <= (it - 1)->last;
}
bool is_letter(uint32_t cp) { return in_ranges(ut::kLetters, ut::kLetterCount, cp); }
bool is_number(uint32_t cp) { return in_ranges(ut::kNumbers, ut::kNumberCount, cp); }
bool is_space(uint32_t cp) { return in_ranges(ut::kSpaces, ut::kSpaceCount, cp); }

uint32_t lower_one(uint32_t cp) {
  for (size_t i = 0; i < ut::kLowerRunCount; ++i) {
    const ut::LowerRun& r = ut::kLowerRuns[i];
    if (cp < r.start) break;  // runs are sorted by start
    const uint32_t off = cp - r.start;
    if (off % r.stride == 0 && off / r.stride < r.count) return uint32_t(int64_t(cp) + r.delta);
  }
  return cp;
}

// Invalid bytes decode as U+FFFD, as Python's decode(errors="replace") would not be reached here: the
// tool's prompts come from UTF-8 command lines and files.
std::vector<uint32_t> utf8_decode(const std::string& s) {
  std::vector<uint32_t> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = uint8_t(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      out.push_back(0xFFFD);
      ++i;
      continue;
    }
    uint32_t cp = len == 1 ? c : c & (0xFF >> (len + 1));
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (uint8_t(s[i + k]) & 0x3F);
    out.push_back(cp);
    i += size_t(len);
  }
  return out;
}

void utf8_append(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += char(cp);
  } else if (cp < 0x800) {
    out += char(0xC0 | (cp >> 6));
    out += char(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    out += char(0xE0 | (cp >> 12));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  } else {
    out += char(0xF0 | (cp >> 18));
    out += char(0x80 | ((cp >> 12) & 0x3F));
    out += char(0x80 | ((cp >> 6) & 0x3F));
    out += char(0x80 | (cp & 0x3F));
  }
}

std::string utf8_encode(const std::vector<uint32_t>& cps) {
  std::string out;
  for (uint32_t cp : cps) utf8_append(out, cp);
  return out;
}

// One html.unescape pass for the entities prompts and captions carry: &amp; &lt; &gt; &quot; &apos;
// &nbsp; and numeric &#N; / &#xH;. Anything else stays as written.
std::string html_unescape(const std::string& s) {
  static const std::pair<const char*, uint32_t> kNamed[] = {{"amp", '&'},  {"lt", '<'},    {"gt", '>'},
                                                            {"quot", '"'}, {"apos", '\''}, {"nbsp", 0xA0}};
  std::string out;
  for (size_t i = 0; i < s.size(); ++i) {
    const size_t semi = s[i] == '&' ? s.find(';', i) : std::string::npos;
    if (semi == std::string::npos || semi - i > 10) {
      out += s[i];
      continue;
    }
    const std::string name = s.substr(i + 1, semi - i - 1);
    uint32_t cp = 0;
    bool ok = false;
    if (name.size() >= 2 && name[0] == '#') {
      const bool hex = name[1] == 'x' || name[1] == 'X';
      const std::string digits = name.substr(hex ? 2 : 1);
      char* end = nullptr;
      const unsigned long v = digits.empty() ? 0 : std::strtoul(digits.c_str(), &end, hex ? 16 : 10);
      ok = !digits.empty() && *end == '\0' && v > 0 && v < 0x110000;
      cp = uint32_t(v);
    } else {
      for (auto& [n, c] : kNamed)
        if (name == n) ok = true, cp = c;
    }
    if (!ok) {
      out += s[i];
      continue;
    }
    utf8_append(out, cp);
    i = semi;
  }
  return out;
}

// ftfy's uncurl_quotes: the typographic single and double quotes become ASCII ' and ".
uint32_t uncurl(uint32_t cp) {
  if (cp == 0x2018 || cp == 0x2019 || cp == 0x201A || cp == 0x201B) return '\'';
  if (cp == 0x201C || cp == 0x201D || cp == 0x201E || cp == 0x201F) return '"';
  return cp;
}

const char* const kSpecialTokens[] = {"<start_of_text>", "<end_of_text>"};

std::string read_gzip(const std::string& path) {
  IQA_CHECK(std::filesystem::exists(path), "CLIP vocabulary ", path,
            " not found: run tools/fetch_clip_vocab.sh (or set IQA_CLIP_VOCAB to bpe_simple_vocab_16e6.txt.gz)");
  gzFile f = gzopen(path.c_str(), "rb");
  IQA_CHECK(f != nullptr, "CLIP vocabulary ", path, ": cannot open");
  std::string data;
  char buf[1 << 16];
  int n = 0;
  while ((n = gzread(f, buf, sizeof buf)) > 0) data.append(buf, size_t(n));
  const bool failed = n < 0;
  gzclose(f);
  IQA_CHECK(!failed, "CLIP vocabulary ", path, ": not a valid gzip file");
  return data;
}
}  // namespace

std::string ClipTokenizer::default_vocab_path(const std::string& root) {
  if (const char* env = std::getenv("IQA_CLIP_VOCAB"); env && *env) return env;
  return root + "/.deps/clip/bpe_simple_vocab_16e6.txt.gz";
}

ClipTokenizer::ClipTokenizer(const std::string& merges_path) {
  // bytes_to_unicode: printable bytes map to themselves, the other 68 to 256, 257, ... in byte order.
  std::vector<int> order;
  int next = 256;
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    std::string sym;
    utf8_append(sym, uint32_t(printable ? b : next++));
    byte_symbol_[b] = sym;
  }
  // Vocabulary order: the printable bytes first (bytes_to_unicode's dict order), then the rest.
  for (int b = 0; b < 256; ++b) {
    const bool printable = (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE && b <= 0xFF);
    if (printable) order.push_back(b);
  }
  for (int b = 0; b < 256; ++b)
    if (std::find(order.begin(), order.end(), b) == order.end()) order.push_back(b);
  for (int b : order) id_to_token_.push_back(byte_symbol_[b]);
  for (int b : order) id_to_token_.push_back(byte_symbol_[b] + "</w>");

  const std::string text = read_gzip(merges_path);
  constexpr int kMerges = 49152 - 256 - 2;
  size_t pos = text.find('\n');  // line 0 is a version header
  for (int rank = 0; rank < kMerges; ++rank) {
    IQA_CHECK(pos != std::string::npos && pos + 1 < text.size(), "CLIP vocabulary ", merges_path, ": only ", rank,
              " merges, expected ", kMerges);
    const size_t end = std::min(text.find('\n', pos + 1), text.size());
    const std::string line = text.substr(pos + 1, end - pos - 1);
    const size_t space = line.find(' ');
    IQA_CHECK(space != std::string::npos && space > 0 && space + 1 < line.size(), "CLIP vocabulary ", merges_path,
              ": merge line ", rank + 2, " is not 'first second'");
    merge_rank_.emplace(line, rank);
    id_to_token_.push_back(line.substr(0, space) + line.substr(space + 1));
    pos = end;
  }
  for (const char* s : kSpecialTokens) id_to_token_.push_back(s);
  for (size_t i = 0; i < id_to_token_.size(); ++i) token_to_id_.emplace(id_to_token_[i], int32_t(i));
  IQA_CHECK(vocab_size() == kVocabSize, "CLIP vocabulary ", merges_path, ": ", vocab_size(), " tokens, expected ",
            kVocabSize);
}

std::string ClipTokenizer::clean(const std::string& text) {
  const std::vector<uint32_t> cps = utf8_decode(html_unescape(html_unescape(text)));
  std::vector<uint32_t> out;
  bool pending_space = false;
  for (uint32_t cp : cps) {
    if (is_space(cp)) {
      pending_space = !out.empty();
      continue;
    }
    if (pending_space) out.push_back(' ');
    pending_space = false;
    cp = uncurl(cp);
    if (cp == 0x130) {  // 'İ'.lower() is two code points: i + combining dot above
      out.push_back('i');
      out.push_back(0x307);
    } else {
      out.push_back(lower_one(cp));
    }
  }
  return utf8_encode(out);
}

std::vector<std::string> ClipTokenizer::split_words(const std::string& cleaned) {
  const std::vector<uint32_t> cps = utf8_decode(cleaned);
  std::vector<std::string> words;
  auto piece = [&](size_t a, size_t b) {
    words.push_back(utf8_encode({cps.begin() + long(a), cps.begin() + long(b)}));
  };
  auto matches_at = [&](size_t i, const char* lit) {
    for (size_t k = 0; lit[k]; ++k)
      if (i + k >= cps.size() || lower_one(cps[i + k]) != uint32_t(uint8_t(lit[k]))) return false;
    return true;
  };
  static const char* const kContractions[] = {"'s", "'t", "'re", "'ve", "'m", "'ll", "'d"};
  size_t i = 0;
  while (i < cps.size()) {
    const uint32_t c = cps[i];
    size_t len = 0;
    for (const char* s : kSpecialTokens)
      if (!len && matches_at(i, s)) len = std::char_traits<char>::length(s);
    for (const char* s : kContractions)  // alternation order: the first that matches wins
      if (!len && matches_at(i, s)) len = std::char_traits<char>::length(s);
    if (!len && is_letter(c)) {
      while (i + len < cps.size() && is_letter(cps[i + len])) ++len;
    } else if (!len && is_number(c)) {
      len = 1;  // [\p{N}]: one digit per piece
    } else if (!len && !is_space(c)) {
      while (i + len < cps.size() && !is_space(cps[i + len]) && !is_letter(cps[i + len]) && !is_number(cps[i + len]))
        ++len;
    }
    if (len == 0) {  // whitespace between pieces
      ++i;
      continue;
    }
    piece(i, i + len);
    i += len;
  }
  return words;
}

std::vector<std::string> ClipTokenizer::bpe(const std::string& word_bytes) const {
  std::vector<std::string> word;
  for (unsigned char b : word_bytes) word.push_back(byte_symbol_[b]);
  word.back() += "</w>";
  while (word.size() > 1) {
    int best = INT_MAX;
    size_t best_at = 0;
    for (size_t k = 0; k + 1 < word.size(); ++k) {
      auto it = merge_rank_.find(word[k] + " " + word[k + 1]);
      if (it != merge_rank_.end() && it->second < best) best = it->second, best_at = k;
    }
    if (best == INT_MAX) break;
    const std::string first = word[best_at], second = word[best_at + 1];
    std::vector<std::string> merged;
    for (size_t k = 0; k < word.size();) {  // every occurrence, left to right, not overlapping
      if (k + 1 < word.size() && word[k] == first && word[k + 1] == second) {
        merged.push_back(first + second);
        k += 2;
      } else {
        merged.push_back(word[k++]);
      }
    }
    word = std::move(merged);
  }
  return word;
}

std::vector<int32_t> ClipTokenizer::encode(const std::string& text) const {
  std::vector<int32_t> ids;
  for (const std::string& w : split_words(clean(text))) {
    if (w == kSpecialTokens[0] || w == kSpecialTokens[1]) {
      ids.push_back(w == kSpecialTokens[0] ? kStartOfText : kEndOfText);
      continue;
    }
    for (const std::string& sym : bpe(w)) {
      auto it = token_to_id_.find(sym);
      IQA_CHECK(it != token_to_id_.end(), "CLIP tokenizer: symbol '", sym, "' of '", text,
                "' is not in the vocabulary");
      ids.push_back(it->second);
    }
  }
  return ids;
}

std::vector<int32_t> ClipTokenizer::tokenize(const std::string& text, int64_t context_length) const {
  IQA_CHECK(context_length >= 2, "CLIP tokenizer: context length ", context_length, " must be at least 2");
  std::vector<int32_t> ids = {kStartOfText};
  const std::vector<int32_t> body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(kEndOfText);
  if (int64_t(ids.size()) > context_length) {
    ids.resize(size_t(context_length));
    ids.back() = kEndOfText;
  }
  ids.resize(size_t(context_length), 0);
  return ids;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  std::string symbols;
  for (int32_t id : ids) {
    IQA_CHECK(id >= 0 && id < vocab_size(), "CLIP tokenizer: id ", id, " outside the vocabulary");
    symbols += id_to_token_[size_t(id)];
  }
  std::string bytes;
  for (size_t i = 0; i < symbols.size();) {
    if (symbols.compare(i, 4, "</w>") == 0) {
      bytes += ' ';
      i += 4;
      continue;
    }
    const size_t len = (uint8_t(symbols[i]) < 0x80) ? 1 : (uint8_t(symbols[i]) >> 5) == 6 ? 2 : 3;
    const std::string sym = symbols.substr(i, len);
    int b = 0;
    while (b < 256 && byte_symbol_[b] != sym) ++b;
    bytes += b < 256 ? char(b) : '?';
    i += len;
  }
  return bytes;
}

}  // namespace iqa::models
