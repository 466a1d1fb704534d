// A program built against an installed spindle: spawns fibers, passes values
// through a channel, and checks the sum.
#include <spindle/spindle.hpp>

#include <cstdio>

int main() {
  spindle::runtime rt;
  long sum = rt.block_on([] {
    spindle::channel<int> ch(16);
    auto producer = spindle::spawn([ch]() mutable {
      for (int i = 1; i <= 1000; ++i) ch.send(i);
      ch.close();
    });
    long s = 0;
    for (int v : ch) s += v;
    producer.join();
    return s;
  });
  if (sum != 500500) {
    std::printf("consumer: wrong sum %ld\n", sum);
    return 1;
  }
  std::printf("consumer: installed spindle %s works (sum %ld)\n", spindle::version_string, sum);
  return 0;
}
