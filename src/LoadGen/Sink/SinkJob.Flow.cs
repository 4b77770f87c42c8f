namespace Perf.LoadGen.Sink;

internal sealed partial class SinkJob
{
    /// <summary>
    /// Sequence bookkeeping for one flow: a growable bitmap of sequences seen (loss and duplicates are exact whatever the
    /// order), and the highest sequence per priority, since a sender that groups by priority reorders across them.
    /// </summary>
    internal sealed class Flow
    {
        private ulong[] _seen = new ulong[1024];
        private readonly Dictionary<uint, ulong> _highestByPriority = [];

        internal enum Outcome
        {
            InOrder,
            ReorderedAcrossPriorities,
            ReorderedWithinPriority,
            Duplicate,
        }

        internal long Unique { get; private set; }

        internal ulong Highest { get; private set; }

        internal long Lost => Unique == 0 ? 0 : (long)(Highest + 1) - Unique;

        internal Outcome See(ulong seq, uint priority)
        {
            int word = (int)(seq >> 6);
            if (word >= _seen.Length)
            {
                Array.Resize(ref _seen, Math.Max(word + 1, _seen.Length * 2));
            }

            ulong bit = 1UL << (int)(seq & 63);
            if ((_seen[word] & bit) != 0)
            {
                return Outcome.Duplicate;
            }

            _seen[word] |= bit;
            bool first = Unique == 0;
            Unique++;
            bool withinOrder = !_highestByPriority.TryGetValue(priority, out ulong highest) || seq > highest;
            if (withinOrder)
            {
                _highestByPriority[priority] = seq;
            }

            if (first || seq > Highest)
            {
                Highest = seq;
                return Outcome.InOrder;
            }

            return withinOrder ? Outcome.ReorderedAcrossPriorities : Outcome.ReorderedWithinPriority;
        }
    }
}
