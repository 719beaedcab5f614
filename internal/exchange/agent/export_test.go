package agent

// SetFaultPoint lets the crash tests stop the process at a step.
func SetFaultPoint(f func(step string)) { faultPoint = f }
