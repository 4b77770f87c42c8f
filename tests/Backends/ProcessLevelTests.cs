using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>Tests that need a second process: other credentials (setpriv) or a syscall trace (strace).</summary>
[Collection("Network")]
public sealed partial class ProcessLevelTests
{
    [Fact]
    public void UnprivilegedSenderLosesOnlyThePriority7PacketToEperm()
    {
        Assert.SkipUnless(Host.IsRoot, "dropping CAP_NET_ADMIN/CAP_NET_RAW with setpriv needs to start as root");
        Assert.SkipUnless(Host.HasTool("setpriv"), "setpriv (util-linux) is not installed");
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        var prios = new string[64];
        for (int i = 0; i < prios.Length; i++)
        {
            prios[i] = i == 31 ? "7" : (i % 7).ToString(CultureInfo.InvariantCulture);
        }

        (int code, string output) = ChildProcess.Run(
            ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"],
            rx.LocalAddress.ToString(), string.Join(',', prios), "64");

        Assert.True(code == 0, output);
        Assert.Contains("caps 0", output);                 // the probe saw no privilege
        Assert.Contains("fail 31 " + Errno.EPERM, output); // exactly that packet, with EPERM
        Assert.Single(FailLine().Matches(output));
        Assert.Contains("sent 63 failed 1 pending 0", output);

        var seen = new List<long>();
        while (seen.Count < 63 && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                ReceivedDatagram d = rx[i];
                long seq = BitConverter.ToInt64(d.Payload);
                seen.Add(seq);
                Assert.Equal((uint)(seq % 7), d.Priority);
            }
        }

        long[] expected = [.. Enumerable.Range(0, 64).Where(i => i != 31).Select(i => (long)i)];
        Assert.Equal(expected, seen);
    }

    [Fact]
    public void StraceShowsSendmmsgCarryingTheConfiguredBatch()
    {
        Assert.SkipUnless(Host.HasTool("strace"), "strace is not installed");
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        string trace = Path.Combine(Path.GetTempPath(), "perf-strace-" + Guid.NewGuid().ToString("N") + ".txt");
        try
        {
            string prios = string.Join(',', Enumerable.Range(0, 256).Select(i => (i % 7).ToString(CultureInfo.InvariantCulture)));
            (int code, string output) = ChildProcess.Run(["strace", "-f", "-e", "trace=sendmmsg", "-o", trace, "--"], rx.LocalAddress.ToString(), prios, "64");
            if (code != 0 && output.Contains("PTRACE_TRACEME", StringComparison.Ordinal))
            {
                Assert.Skip("ptrace is not permitted here: " + output);
            }

            Assert.True(code == 0, output);
            string[] calls = [.. File.ReadAllLines(trace).Where(l => l.Contains("sendmmsg(", StringComparison.Ordinal))];
            Assert.Equal(4, calls.Length);
            Assert.All(calls, c => Assert.Matches(@"\], 64, MSG_DONTWAIT\) = 64$", c));
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [Fact]
    public void KernelWithoutPerPacketPriorityFailsCreationClearly()
    {
        CapabilityProbe.TestOverride = _ => Errno.EINVAL; // what a pre-6.14 kernel answers
        try
        {
            PerfSocketException e = Assert.Throws<PerfSocketException>(() => PacketSender.Create(new PacketSenderOptions()));
            Assert.Equal(Errno.EINVAL, e.Errno);
            Assert.Contains("6.14", e.Message);

            using PacketSender plain = PacketSender.Create(new PacketSenderOptions { PerPacketPriority = false });
            Assert.False(plain.Capabilities.PerPacketPriority);
            Assert.False(plain.PerPacketPriority);
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }
    }

    [Fact]
    public void ProbeReportsWhatThisProcessMayUse()
    {
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions());
        Assert.True(tx.Capabilities.PerPacketPriority, "this suite runs on Linux 6.14+ (" + Environment.OSVersion + ")");
        Assert.Equal(Host.IsRoot, tx.Capabilities.PrivilegedPriorities);
        Assert.True(tx.Capabilities.Allows(6));
        Assert.Equal(Host.IsRoot, tx.Capabilities.Allows(7));

        CapabilityProbe.TestOverride = p => p > 6 ? Errno.EPERM : 0;
        try
        {
            using PacketSender unprivileged = PacketSender.Create(new PacketSenderOptions());
            Assert.False(unprivileged.Capabilities.PrivilegedPriorities);
            Assert.Contains("CAP_NET_ADMIN", unprivileged.Capabilities.ToString());
        }
        finally
        {
            CapabilityProbe.TestOverride = null;
        }
    }

    [GeneratedRegex(@"^fail ", RegexOptions.Multiline)]
    private static partial Regex FailLine();
}
