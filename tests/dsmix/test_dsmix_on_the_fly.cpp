// DSMix's on-the-fly listing: samples distorted from the reference at load time, the same for the
// same key and different between keys.
#include <catch2/catch.hpp>

#include <set>

#include "tests/dsmix/dsmix_files.h"
#include "tests/testing.h"
#include "training/dsmix/data.h"
#include "training/distort/distort.h"
#include "training/distort/primitives.h"
#include "training/distort/set.h"
#include "training/image/augment.h"
#include "training/image/decode.h"
#include "training/image/encode.h"

using namespace iqa;
using namespace iqa::training;
using namespace iqa::testing;

TEST_CASE("On-the-fly samples: deterministic per key, different between keys", "[dsmix]") {
  TempDir in("fly");
  write_png(in.file("a.png"), textured_image(32, 32, 1));
  write_png(in.file("b.png"), textured_image(48, 40, 2));
  const KadisSet set = plan_on_the_fly(in.path.string(), {3, 11}, {2, 5}, 1, 9, true);
  CHECK(set.on_the_fly);
  REQUIRE(set.references == std::vector<std::string>{"a.png", "b.png"});
  REQUIRE(set.samples.size() == 6);
  CHECK(set.samples[0].image.empty());
  CHECK(set.samples[0].type == types_for_reference("a.png", {3, 11}, 1, 9)[0]);
  CHECK(set.samples[2].type == types_for_reference("b.png", {3, 11}, 1, 9)[0]);
  CHECK(set.samples[1].level == 5);
  CHECK(set.samples[5].type == 0);
  CHECK(set.samples[5].image == "b.png");
  CHECK(plan_on_the_fly(in.path.string(), {}, {}, 0, 9, false).samples.size() == 2 * 25 * 5);

  SampleRenderOptions ro;
  ro.crop = 32;
  ro.distortion_seed = 17;
  const size_t n = 3 * 32 * 32;
  std::vector<float> a(n), b(n), c(n);
  for (int64_t i : {2, 3}) {  // b.png, larger than the crop
    render_qep_sample(set, i, 1000, ro, a.data());
    render_qep_sample(set, i, 1000, ro, b.data());
    render_qep_sample(set, i, 1001, ro, c.data());
    CHECK(a == b);
    CHECK(a != c);
  }
  // On a crop-sized reference without flips the sample is kadis_distort of the reference with the
  // documented seed, and the map is its DSM against the reference.
  ro.flip = false;
  const ImageU8 ref = decode_image(in.file("a.png"));
  const KadisSample& s = set.samples[1];
  const ImageU8 want = to_u8(kadis_distort(to_float(ref), s.type, s.level, distortion_seed(17 ^ 555, 0, s.type, s.level)));
  std::vector<float> map(16), want_image(n);
  render_dsm_sample(set, 1, 555, ro, a.data(), map.data());
  normalize_to_chw(want, want_image.data());
  CHECK(a == want_image);
  // On-the-fly references enter the ground truth min-max stretched, like the distorted image.
  ImageF stretched = to_float(ref);
  distort::mapmm_inplace(stretched);
  CHECK(map == dsm_ground_truth(want, to_u8(stretched), 8));

  ro.crop = 40;  // a.png is 32x32
  CHECK_THROWS_WITH(render_qep_sample(set, 0, 1, ro, a.data()), Catch::Contains(in.file("a.png")));
}
