using System.Net;
using Perf.Batch;
using Perf.Host;

namespace Perf.Bench;

/// <summary>Sinks for the benchmarks and the once-per-setup output check.</summary>
internal static class BenchSupport
{
    /// <summary>Datagrams per benchmark invocation; results are per datagram through OperationsPerInvoke.</summary>
    internal const int Ops = 1024;

    /// <summary>A bound loopback socket that is never read: the kernel's receive path is in the cost, as a one-host user sees it.</summary>
    internal static PacketReceiver NeverReadSink() => PacketReceiver.Create(new PacketReceiverOptions
    {
        LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
        BatchSize = 1,
        MaxDatagramSize = 64,
        ReceivePriority = false,
    });

    /// <summary>One benchmark body: <see cref="Ops"/> datagrams with priorities 0-6 cycling, then a flush.</summary>
    internal static void SendOps(PacketSender tx, byte[] payload, in DatagramAddress target)
    {
        for (int i = 0; i < Ops; i++)
        {
            tx.TryEnqueue(payload, (uint)(i % 7), in target);
        }

        tx.Flush();
    }

    /// <summary>
    /// Runs one invocation of a benchmark body against a reading receiver and checks that every datagram arrived with
    /// the priority the body gave it (priority = index % 7 by convention), when <paramref name="checkPriority"/>.
    /// </summary>
    internal static void Verify(Action<DatagramAddress> runOnceTo, int payload, bool checkPriority) =>
        Verify(runOnceTo, payload, checkPriority, i => (uint)(i % 7));

    /// <summary>As above, with the priority datagram i should carry.</summary>
    internal static void Verify(Action<DatagramAddress> runOnceTo, int payload, bool checkPriority, Func<int, uint> priorityOf)
    {
        using PacketReceiver rx = PacketReceiver.Create(new PacketReceiverOptions
        {
            LocalAddress = new DatagramAddress(IPAddress.Loopback, 0),
            BatchSize = 256,
            MaxDatagramSize = 2048,
            ReceiveBufferSize = 16 << 20,
            ReceiveMark = true,
        });

        // Before 6.14 no priority arrives; the priority_to_mark echo on lo (attached by the test suite in the kernel
        // lab) carries it in the mark instead. Without either, only count and size are checked.
        bool viaMark = !rx.ReportsPriority && rx.ReportsMark && Environment.IsPrivilegedProcess && MarkClassifier.IsPriorityEchoAttached("lo");
        checkPriority &= rx.ReportsPriority || viaMark;
        runOnceTo(rx.LocalAddress);
        // The priorities that arrived, as a multiset: a sender that groups a flush by priority (SocketPerPriority, as
        // before 6.14) keeps order only within each priority.
        var expected = new Dictionary<uint, int>();
        for (int i = 0; i < Ops; i++)
        {
            expected[priorityOf(i)] = expected.GetValueOrDefault(priorityOf(i)) + 1;
        }

        int got = 0;
        while (got < Ops && rx.Receive(2000) > 0)
        {
            for (int i = 0; i < rx.Count; i++)
            {
                ReceivedDatagram d = rx[i];
                if (d.Payload.Length != payload)
                {
                    throw new InvalidOperationException("benchmark check: datagram of " + d.Payload.Length + " bytes, expected " + payload);
                }

                uint priority = viaMark ? d.Mark : d.Priority;
                if (checkPriority && expected.GetValueOrDefault(priority) == 0)
                {
                    throw new InvalidOperationException("benchmark check: a datagram arrived with priority " + priority + ", more than the body sent with it");
                }

                expected[priority] = expected.GetValueOrDefault(priority) - 1;
                got++;
            }
        }

        if (got != Ops)
        {
            throw new InvalidOperationException("benchmark check: " + got + " of " + Ops + " datagrams arrived");
        }
    }
}
