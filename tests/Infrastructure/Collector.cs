using Perf.Batch;

namespace Perf.Tests.Infrastructure;

/// <summary>
/// Drains a <see cref="PacketReceiver"/> on its own thread and checks every datagram: payload bytes and length, the
/// priority carried in the payload against the one SO_RCVPRIORITY reports, arrival count and order.
/// </summary>
internal sealed class Collector : IDisposable
{
    private readonly PacketReceiver _receiver;
    private readonly Func<long, int> _expectedLength;
    private readonly bool _checkPriority;
    private readonly int[] _arrivals;
    private readonly uint[] _priorities;
    private readonly long[] _arrivalOrder;
    private readonly Thread _thread;
    private readonly List<string> _errors = [];
    private volatile bool _stop;
    private long _received;
    private long _lastSeq = -1;

    // checkPriority: false where the path resets skb->priority (a veth crossing). Where this kernel cannot show
    // priorities (PriorityView), the collector still checks bytes, count and order; tests about priorities Require() it.
    internal Collector(PacketReceiver receiver, int expected, Func<long, int> expectedLength, bool checkPriority = true)
    {
        _checkPriority = checkPriority && PriorityView.Available;
        _receiver = receiver;
        _expectedLength = expectedLength;
        _arrivals = new int[expected];
        _priorities = new uint[expected];
        _arrivalOrder = new long[expected];
        _thread = new Thread(Run) { IsBackground = true, Name = "collector" };
        _thread.Start();
    }

    internal long Received => Volatile.Read(ref _received);

    internal int OutOfOrder { get; private set; }

    internal IReadOnlyList<string> Errors
    {
        get
        {
            lock (_errors)
            {
                return [.. _errors];
            }
        }
    }

    internal int Arrivals(long seq) => _arrivals[seq];

    internal uint Priority(long seq) => _priorities[seq];

    /// <summary>
    /// The order <paramref name="tx"/> promises: exact enqueue order, or, where it groups a flush by priority, order
    /// within each priority (<paramref name="priorityOf"/>).
    /// </summary>
    internal void AssertOrder(Perf.Batch.PacketSender tx, long count, Func<long, uint> priorityOf)
    {
        if (tx.PreservesOrder)
        {
            Assert.Equal(0, OutOfOrder);
        }
        else
        {
            Assert.Equal(0, OutOfOrderWithin(count, priorityOf));
        }
    }

    /// <summary>
    /// Datagrams that arrived before an earlier-sent one of the same class (<paramref name="classOf"/>, e.g. its priority):
    /// the order a sender that groups by priority must keep. Counts over the first <paramref name="count"/> sequences.
    /// </summary>
    internal int OutOfOrderWithin(long count, Func<long, uint> classOf)
    {
        var last = new Dictionary<uint, long>();
        int reordered = 0;
        for (long seq = 0; seq < count; seq++)
        {
            uint c = classOf(seq);
            if (last.TryGetValue(c, out long previous) && _arrivalOrder[seq] < previous)
            {
                reordered++;
            }

            last[c] = _arrivalOrder[seq];
        }

        return reordered;
    }

    /// <summary>Waits until <paramref name="count"/> datagrams arrived or <paramref name="timeout"/> passed.</summary>
    internal bool WaitFor(long count, TimeSpan timeout)
    {
        long deadline = Environment.TickCount64 + (long)timeout.TotalMilliseconds;
        while (Received < count)
        {
            if (Environment.TickCount64 > deadline)
            {
                return false;
            }

            Thread.Sleep(2);
        }

        return true;
    }

    private void Run()
    {
        while (!_stop)
        {
            int n = _receiver.Receive(50);
            for (int i = 0; i < n; i++)
            {
                ReceivedDatagram d = _receiver[i];
                string? error = TestPayload.Check(d.Payload, -1, out long seq, out uint sentPriority);
                if (error is null && (seq < 0 || seq >= _arrivals.Length))
                {
                    error = "unexpected seq " + seq;
                }

                if (error is null && d.Payload.Length != _expectedLength(seq))
                {
                    error = "seq " + seq + ": length " + d.Payload.Length + " != " + _expectedLength(seq);
                }

                bool seen = PriorityView.TryGet(in d, out uint priority);
                if (error is null && _checkPriority && (!seen || priority != sentPriority))
                {
                    error = "seq " + seq + ": priority " + (seen ? priority.ToString("x") : "missing") + " != sent " + sentPriority.ToString("x");
                }

                if (error is not null)
                {
                    lock (_errors)
                    {
                        if (_errors.Count < 20)
                        {
                            _errors.Add(error);
                        }
                    }

                    continue;
                }

                _arrivals[seq]++;
                _priorities[seq] = priority;
                _arrivalOrder[seq] = _received;
                if (seq < _lastSeq)
                {
                    OutOfOrder++;
                }

                _lastSeq = seq;
                Interlocked.Increment(ref _received);
            }
        }
    }

    public void Dispose()
    {
        _stop = true;
        _thread.Join();
    }
}
