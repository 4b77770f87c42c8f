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

    /// <summary>
    /// The trait that picks what the lab runs (tests/lab/guest-checks): Debian 12's 6.1 runs all but <see cref="HostOnly"/>;
    /// the newer lab kernels run <see cref="EveryKernel"/>, the tests whose outcome differs between kernels.
    /// </summary>
    internal const string Trait = "Lab";

    /// <summary>Pure managed code or argument checks: no kernel decides the outcome, so the lab skips them.</summary>
    internal const string HostOnly = "HostOnly";

    /// <summary>
    /// Kernel-dependent behaviour: qdiscs, classifier attachment (tcx or cls_bpf), priority strategies, io_uring,
    /// GSO/GRO, what a receiver sees. These run on every lab kernel.
    /// </summary>
    internal const string EveryKernel = "EveryKernel";
}
