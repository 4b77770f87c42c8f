using Perf.Batch;

namespace Perf.LoadGen.Send;

/// <summary>
/// Which priority and size each datagram gets: runs of <c>burst</c> datagrams, each run's priority the next from the
/// weighted schedule and its size drawn once (so a run has equal sizes). Counted down, not divided: a 64-bit division per
/// datagram cost more than the planner.
/// </summary>
internal struct RunSchedule
{
    private readonly uint[] _schedule;
    private readonly int _burst;
    private readonly int _minSize;
    private readonly int _span;
    private uint _rng;
    private int _runLeft;   // datagrams left in the current run
    private int _at;        // the current run's place in the schedule

    internal RunSchedule(uint[] schedule, int burst, int minSize, int maxSize, uint seed)
    {
        _schedule = schedule;
        _burst = burst;
        _minSize = minSize;
        _span = maxSize - minSize + 1;
        _rng = seed;
        _runLeft = 0;
        _at = -1;
        Priority = 0;
        Size = minSize;
        Counter = 0;
    }

    internal uint Priority { get; private set; }

    internal int Size { get; private set; }

    /// <summary>The current priority's counter in the flow (<see cref="FlowState.CounterOf"/>).</summary>
    internal int Counter { get; private set; }

    /// <summary>Moves to the next datagram; at a run's start, picks its priority and size.</summary>
    internal void Next(FlowState flow)
    {
        if (_runLeft-- != 0)
        {
            return;
        }

        _runLeft = _burst - 1;
        _at = _at + 1 == _schedule.Length ? 0 : _at + 1;
        Priority = _schedule[_at];
        Counter = flow.CounterOf(Priority);
        Size = _minSize;
        if (_span > 1)
        {
            _rng ^= _rng << 13;
            _rng ^= _rng >> 17;
            _rng ^= _rng << 5;
            Size += (int)(_rng % (uint)_span);
        }
    }
}
