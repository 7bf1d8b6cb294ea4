// CLIP's byte-level BPE tokenizer, as open_clip's SimpleTokenizer (clean='lower') computes it:
//   text cleaning: HTML entities unescaped (twice, like html.unescape(html.unescape(t))), curly quotes
//     straightened (the part of ftfy.fix_text that changes ordinary prompts), whitespace runs folded to
//     one space, trimmed, lower-cased (str.lower() for one-to-one code points);
//   pre-tokenisation by CLIP's pattern, implemented by hand over code points:
//     <start_of_text> | <end_of_text> | 's|'t|'re|'ve|'m|'ll|'d | letter run | one number | run of others;
//   each piece as UTF-8 bytes mapped to printable code points (GPT-2's bytes_to_unicode), then BPE
//   with the merges of bpe_simple_vocab_16e6.txt.gz (the first 48,894 lines after the header), the last
//   symbol marked end-of-word ("</w>");
//   vocabulary: 256 byte symbols, the same 256 with "</w>", one per merge, then <start_of_text> 49406
//   and <end_of_text> 49407 (49,408 in all).
// tokenize() gives [sot, tokens..., eot] padded with 0 to the context length; longer texts are cut to
// the context length with eot kept as the last token (open_clip's truncation).
// Not reproduced from ftfy: mojibake repair, NFC normalisation, ligature and full-width folding.
#pragma once
#include <cstdint>
#include <string>
#include <unordered_map>
#include <vector>

namespace iqa::models {

class ClipTokenizer {
 public:
  static constexpr int32_t kStartOfText = 49406;
  static constexpr int32_t kEndOfText = 49407;
  static constexpr int64_t kContextLength = 77;
  static constexpr int64_t kVocabSize = 49408;

  // Reads the gzip'd merges file; throws iqa::Error naming `merges_path` when it is absent or malformed.
  explicit ClipTokenizer(const std::string& merges_path);
  // Where tools/fetch_clip_vocab.sh puts the file: $IQA_CLIP_VOCAB if set, else
  // <source dir>/.deps/clip/bpe_simple_vocab_16e6.txt.gz relative to `root`.
  static std::string default_vocab_path(const std::string& root = ".");

  // Token ids without start/end tokens and without truncation.
  std::vector<int32_t> encode(const std::string& text) const;
  // [sot, encode(text)..., eot], cut to context_length with eot last, padded with 0.
  std::vector<int32_t> tokenize(const std::string& text, int64_t context_length = kContextLength) const;
  // Ids back to text ("</w>" becomes a space), for messages and tests.
  std::string decode(const std::vector<int32_t>& ids) const;
  int64_t vocab_size() const { return int64_t(id_to_token_.size()); }

  // The cleaning and the pre-tokenisation on their own (UTF-8 in, UTF-8 out).
  static std::string clean(const std::string& text);
  static std::vector<std::string> split_words(const std::string& cleaned);

 private:
  std::vector<std::string> bpe(const std::string& word_bytes) const;  // symbols in byte-unicode form
  std::unordered_map<std::string, int32_t> token_to_id_;
  std::vector<std::string> id_to_token_;
  std::unordered_map<std::string, int32_t> merge_rank_;  // "first second" -> rank
  std::string byte_symbol_[256];                         // UTF-8 of bytes_to_unicode()[b]
};

}  // namespace iqa::models
