namespace Perf.Tests.Infrastructure;

/// <summary>
/// The kernel lab (tests/lab) runs this suite on Debian's kernels under QEMU TCG, several times slower than the host.
/// There the point is the kernel's behaviour, not volume: tests that move large counts move a fifth of them.
/// </summary>
internal static class Lab
{
    /// <summary>The lab kernel's name (6.1, 6.12, backports), or null on the host.</summary>
    internal static string? Kernel { get; } = Environment.GetEnvironmentVariable("LAB_KERNEL");

    internal static bool InLab => Kernel is not null;

    /// <summary><paramref name="count"/> on the host, a fifth of it in the lab.</summary>
    internal static int Scaled(int count) => InLab ? Math.Max(1, count / 5) : count;
}
