package absorb

// Settle waits for the write-backs still under way, for the tests of
// package absorb_test.
func (a *Absorber) Settle() { a.settle() }
