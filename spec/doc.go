// Package spec is a training run's specification: the network's architecture (with its
// layer graph, docs/design.md §11: Arch, Param and Skips; Run.Graph, InitialMapsOf), the
// algorithm (backprop or one of pcnet's predictive-coding variants), pcnet's settings,
// the optimiser, the batch, the seed and the data. It is the one form the settings take:
// the command reads its flags into a Run, Validate checks it in one place (delegating
// pcnet's settings to pcnet.Config.Validate), package checkpoint stores it as is in a
// checkpoint's metadata, and package cluster sends it as is (gob) to the workers.
// train.New turns it into a learner, on the maps InitialMapsOf draws: a chain of dense
// layers as layer.NewMLP always drew them, any other run layer.NewPreActNet's
// pre-activation maps. A Run stores pcnet's per-sample inference step gamma; jpc's
// activity step eta on the batch mean becomes it in one place, GammaOfActivityLR.
//
// A value out of range is a *FieldError whose Field names the setting as the command's
// flag does ("gamma", "lr", "max-train", ...; "algorithm" is the command's -variant),
// so that the command can name its flag and exit with status 2.
package spec
