using System.Globalization;
using System.Net.Sockets;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

/// <summary>Tests that need a second process: other credentials (setpriv) or a syscall trace (strace).</summary>
[Collection("Network")]
public sealed class ProcessLevelTests
{
    [Theory]
    [InlineData("Sendmmsg", "sendmmsg", @"\], 64, MSG_DONTWAIT\) = 64$")]
    [InlineData("IoUring", "io_uring_enter", @"^\d+ +io_uring_enter\(\d+, 64, 64, IORING_ENTER_GETEVENTS(\|IORING_ENTER_REGISTERED_RING)?, NULL, 0\) = 64$")]
    public void StraceShowsEachCallCarryingTheConfiguredBatch(string backend, string syscall, string pattern)
    {
        Assert.SkipUnless(HostTools.HasTool("strace"), "strace is not installed");
        Assert.SkipWhen(backend == "IoUring" && UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        string trace = Path.Combine(Path.GetTempPath(), "perf-strace-" + Guid.NewGuid().ToString("N") + ".txt");
        try
        {
            bool cmsg;
            using (PacketSender probe = PacketSender.Create(new PacketSenderOptions()))
            {
                cmsg = probe.Capabilities.PerPacketPriority;
            }

            // Before 6.14 Auto sends each run of equal priority on that priority's socket: one priority keeps whole batches.
            string prios = string.Join(',', Enumerable.Range(0, 256).Select(i => (cmsg ? i % 7 : 3).ToString(CultureInfo.InvariantCulture)));
            // Plain messages (GSO off): this counts datagrams per call.
            (int code, string output) = ChildProcess.Run(["strace", "-f", "-e", "trace=" + syscall, "-o", trace, "--"], rx.LocalAddress.ToString(), prios, "64", backend, "Off");
            if (code != 0 && output.Contains("PTRACE_TRACEME", StringComparison.Ordinal))
            {
                Assert.Skip("ptrace is not permitted here: " + output);
            }

            Assert.True(code == 0, output);
            string[] calls = [.. File.ReadAllLines(trace).Where(l => l.Contains(syscall + "(", StringComparison.Ordinal))];
            Assert.Equal(4, calls.Length); // 256 datagrams, 64 a call
            Assert.All(calls, c => Assert.Matches(pattern, c));
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [Fact]
    public void StraceShowsUdpSegmentCmsgsInTheSendmmsgCalls()
    {
        Assert.SkipUnless(HostTools.HasTool("strace"), "strace is not installed");
        using (PacketSender probe = PacketSender.Create(new PacketSenderOptions()))
        {
            Assert.SkipUnless(probe.Capabilities.Segmentation, "this kernel takes no UDP_SEGMENT cmsg (UDP GSO needs Linux 4.18+)");
        }

        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        string trace = Path.Combine(Path.GetTempPath(), "perf-strace-" + Guid.NewGuid().ToString("N") + ".txt");
        try
        {
            // 256 datagrams in runs of 16 of one priority each: 16 messages of 16 segments, one sendmmsg.
            string prios = string.Join(',', Enumerable.Range(0, 256).Select(i => (i / 16 % 7).ToString(CultureInfo.InvariantCulture)));
            (int code, string output) = ChildProcess.Run(["strace", "-f", "-v", "-e", "trace=sendmmsg", "-o", trace, "--"], rx.LocalAddress.ToString(), prios, "64", "Sendmmsg", "On");
            if (code != 0 && output.Contains("PTRACE_TRACEME", StringComparison.Ordinal))
            {
                Assert.Skip("ptrace is not permitted here: " + output);
            }

            Assert.True(code == 0, output);
            // In order, 16 runs of 16 in one call. Grouped by priority (the default), one message per priority: all in one
            // call where the priority rides in the cmsg, one call on each priority's socket under SocketPerPriority.
            bool ordered = output.Contains("ordered 1", StringComparison.Ordinal);
            bool socketPerPriority = output.Contains("strategy SocketPerPriority", StringComparison.Ordinal);
            int messages = ordered ? 16 : 7;
            Assert.Contains("sent 256 failed 0 pending 0 segmented " + messages + "/256", output);
            string[] calls = [.. File.ReadAllLines(trace).Where(l => l.Contains("sendmmsg(", StringComparison.Ordinal))];
            Assert.Equal(socketPerPriority && !ordered ? 7 : 1, calls.Length);
            // strace names SOL_UDP; older versions print UDP_SEGMENT (103) as 0x67.
            Assert.Equal(messages, calls.Sum(c => System.Text.RegularExpressions.Regex.Count(c, "cmsg_level=SOL_UDP, cmsg_type=(0x67|UDP_SEGMENT)")));
        }
        finally
        {
            File.Delete(trace);
        }
    }

    [Trait(Lab.Trait, Lab.EveryKernel)]
    [Fact]
    public void ProbeReportsWhatThisProcessMayUse()
    {
        using PacketSender tx = PacketSender.Create(new PacketSenderOptions());
        Assert.Equal(Environment.OSVersion.Version >= new Version(6, 14), tx.Capabilities.PerPacketPriority);
        Assert.Equal(tx.Capabilities.PerPacketPriority ? PriorityStrategy.Cmsg : PriorityStrategy.SocketPerPriority, tx.PriorityStrategy);
        Assert.Equal(HostTools.IsRoot, tx.Capabilities.PrivilegedPriorities);
        Assert.True(tx.Capabilities.Allows(6));
        Assert.Equal(HostTools.IsRoot, tx.Capabilities.Allows(7));

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
}
