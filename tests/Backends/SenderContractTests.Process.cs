using System.Globalization;
using System.Net.Sockets;
using System.Text.RegularExpressions;
using Perf.Batch;
using Perf.Tests.Infrastructure;

namespace Perf.Tests.Backends;

// Per-packet privilege failures, part of every backend's contract: a child process without CAP_NET_ADMIN/CAP_NET_RAW.
public abstract partial class SenderContractTests
{
    [Fact]
    public void UnprivilegedSenderLosesOnlyThePriority7PacketToEperm()
    {
        Assert.SkipUnless(HostTools.IsRoot, "dropping CAP_NET_ADMIN/CAP_NET_RAW with setpriv needs to start as root");
        Assert.SkipUnless(HostTools.HasTool("setpriv"), "setpriv (util-linux) is not installed");
        Assert.SkipWhen(Backend == SendBackendKind.IoUring && UringAvailability.Reason is not null, UringAvailability.Reason ?? string.Empty);
        PriorityView.Require();
        using PacketReceiver rx = Loopback.Receiver(AddressFamily.InterNetwork);
        var prios = new string[64];
        for (int i = 0; i < prios.Length; i++)
        {
            prios[i] = i == 31 ? "7" : (i % 7).ToString(CultureInfo.InvariantCulture);
        }

        (int code, string output) = ChildProcess.Run(
            ["setpriv", "--inh-caps=-all", "--ambient-caps=-all", "--bounding-set=-all", "--"],
            rx.LocalAddress.ToString(), string.Join(',', prios), "64", Backend.ToString(), "Auto", Strategy.ToString());

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
                Assert.Equal((uint)(seq % 7), PriorityView.Of(d));
            }
        }

        long[] expected = [.. Enumerable.Range(0, 64).Where(i => i != 31).Select(i => (long)i)];
        if (output.Contains("ordered 1", StringComparison.Ordinal))
        {
            Assert.Equal(expected, seen);
        }
        else
        {
            // Grouped by priority (SocketPerPriority, as before 6.14): every one once, in order within its priority.
            Assert.Equal(expected, seen.Order());
            for (int p = 0; p < 7; p++)
            {
                long[] ofPriority = [.. seen.Where(s => s % 7 == p)];
                Assert.Equal([.. ofPriority.Order()], ofPriority);
            }
        }
    }

    [GeneratedRegex(@"^fail ", RegexOptions.Multiline)]
    private static partial Regex FailLine();
}
