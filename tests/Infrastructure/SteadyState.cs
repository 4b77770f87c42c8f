using System.Diagnostics;
using System.Runtime;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Measures what a workload allocates on this thread once the JIT has finished with it. Tiered compilation allocates a
/// few bytes on the calling thread when a rejitted method lands mid-run (seen: 32 B in Release, 0 with
/// DOTNET_TieredPGO=0); under the kernel lab's emulated CPU that can happen long after a fixed warm-up. A round counts
/// only if no method was compiled while it ran, so a hot path that allocates still fails every time.
/// </summary>
internal static class SteadyState
{
    internal static long AllocatedBytes(Action<int> work, int warmup = 20_000, int measured = 100_000)
    {
        // Call counting starts 100 ms after the last tier-0 activity: pause between warm-up rounds.
        for (int round = 0; round < 3; round++)
        {
            work(warmup);
            Thread.Sleep(250);
        }

        var clock = Stopwatch.StartNew();
        int rounds = 0;
        while (true)
        {
            rounds++;
            long compiled = JitInfo.GetCompiledMethodCount(currentThread: false);
            long before = GC.GetAllocatedBytesForCurrentThread();
            work(measured);
            long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
            if (JitInfo.GetCompiledMethodCount(currentThread: false) == compiled)
            {
                return allocated;
            }

            if (rounds == 20 || clock.Elapsed > TimeSpan.FromSeconds(60))
            {
                Assert.Fail($"the JIT compiled methods during each of {rounds} measured rounds ({clock.Elapsed.TotalSeconds:F0} s); last round allocated {allocated} B");
            }

            Thread.Sleep(250);
        }
    }
}
