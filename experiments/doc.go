// Package experiments reproduces the claims of Zahid et al. (2023) about predictive
// coding's equivalence to backpropagation (paper §3.4-3.5) on pcnet's own runtime,
// answers the question the paper leaves open (§3.6: online learning at high learning
// rates), and writes what it measured next to what the paper claims.
//
//	err := experiments.Run(ctx, "all", experiments.Options{OutDir: "docs/results", Quick: true}, os.Stderr)
//
// Every experiment writes CSV files (the numbers), PNG plots (gonum.org/v1/plot) and a
// markdown summary (NAME.md) into Options.OutDir; "all" also writes README.md, which sets
// every claim against its measurement.
//
// # Experiments
//
//	cosine      Figure 3: the cosine between FPA-PC's weight update (all layers concatenated)
//	            and BP's gradient at the same weights and batch, over the first epoch of
//	            training, for every H, gamma and T/H of the grid.
//	accuracy    Figures 4 and 5: validation accuracy along training and test accuracy after
//	            the preset's epochs, for the same grid, next to BP's at the same H and seed.
//	wavefront   Theorem 1: for FPA-PC, standard PC and Z-IL, a heat map of every hidden node's
//	            error change by distance and inference step, the first non-zero step of
//	            every node (it must equal its distance) and the step at which it converged.
//	complexity  Result 3, eqs. 3.27-3.36: wall time per weight update of BP, FPA-PC (T = H,
//	            gamma 1) on the parallel and the sequential engine, and standard PC, against
//	            H, at each GOMAXPROCS of the preset; VJPs per update; the ratio to BP.
//	online      §3.6 (docs/design.md §10): one pass over a stream of MNIST training images at batch
//	            1 (and 64 for contrast), BP with SGD, SGD + momentum 0.9 and Adam against
//	            standard PC near equilibrium and iPC (SGD and Adam), with FPA-PC at gamma 1
//	            as the control that must equal BP bit for bit; a learning-rate grid per
//	            optimiser from stable to diverged, three seeds, the same initial weights for
//	            every method of a seed; prequential accuracy (each batch predicted before
//	            it is learned from), over the stream and its last tenth, test accuracy,
//	            whether and when a run diverged.
//	depth       issue 21 (docs/design.md §11): jpc's μPC tutorial reproduced (MNIST, ReLU,
//	            N = 128, H = 29, T = 30, Adam 0.1, 900 updates; test accuracy every 100
//	            updates beside the notebook's curve, mean of three seeds); a depth sweep
//	            (H in {8, 16, 32, 64}, one epoch) of BP on the μP-parameterised residual
//	            network, μPC, standard PC on the residual network and on the plain chain:
//	            accuracy, each weight layer's update norm against BP's on the same batch,
//	            the first non-zero step of every node against graph.Eta, time; and the
//	            wavefront of chains with long skips against graph.Eta and graph.EtaFixed on
//	            MNIST and Fashion-MNIST. Its networks are cached like the grid's.
//	all         all six; cosine and accuracy share one set of trained networks.
//
// # Layout
//
// Each experiment sits behind the small experiment interface (its name, a line for
// README.md's index, its run, which writes its own files and returns its section of
// README.md); experimentList orders them. Its run is three steps (stages), each in code
// of its own: it measures, into a typed result (gridResults, wavefrontResults,
// complexityResults, onlineResults) that holds numbers and no text; it sets the claims
// against that result (the checks: accuracyChecks, cosineChecks, ...); and it renders
// the result and the checks into files and its section of README.md. NAME.go holds the
// measurement and the claims, NAME_write.go the rendering (online's claims, the
// longest, have online_checks.go). Rendering uses package internal/render, which
// bench/report shares: CSV tables, markdown, number formats and the plots' house style.
// Below the experiments sit the options, presets and the run loop (experiments.go), the
// cosine and accuracy grid and the JSON cache of finished work (grid.go), and the
// claims' and README.md's common parts (report.go). An experiment reaches another's
// work only through runEnv (the data, the grid), so adding one touches no other
// experiment's file.
//
// # The setting
//
// As in the paper (§3.4.2): MLPs 784-64xH-10, tanh, log-softmax output, NLL loss, SGD
// with momentum 0.9, batch 64, PyTorch's default initialisation, MNIST (55,000 training,
// 5,000 validation and 10,000 test images; pixels in [0, 1]). The paper gives no learning
// rate; the presets use 0.01. Every network of one H starts from the same weights, drawn
// from a generator seeded with (Options.Seed, H), and sees the same batches, so FPA-PC
// and BP differ only in how they compute the update.
//
// The grid's T is Steps(T/H, H) = max(1, floor(T/H · H)): rounding down keeps T < H at
// every ratio below 1. At H = 2 the ratios 0.25, 0.5 and 0.75 all give T = 1; that
// network is trained once and plotted at all three ratios, and the CSV files carry both
// the nominal ratio and the T that ran.
//
// # Presets
//
// FullPreset is the paper's grid: H in {2, 4, 8, 16}, gamma in {0.1, 0.2, 0.5, 1},
// T/H in {0.25, 0.5, 0.75, 1, 1.5, 2, 4}, three epochs on all training images, the cosine
// recorded at every batch of the first epoch; BP's reference at each H trains on until
// it reaches 97% validation accuracy (at most 20 epochs). QuickPreset shrinks it to
// H in {2, 4}, 5,000 training images and two epochs, and runs in about a minute on two
// cores; its test (quick_test.go) checks the shapes the paper predicts.
//
// The online experiment has a preset of its own (Preset.Online). The full one streams all
// 55,000 training images through 784-[32 tanh]x2-10 networks: 8 methods x 9 learning
// rates x 3 seeds at batch 1 and at batch 64, 432 runs; standard PC takes T = 30 steps
// of gamma 0.2, iPC T = H+1 = 3 steps of gamma 0.5. The size is what fits 90 minutes on
// two shared cores: at batch 1 an optimiser step over the input layer's weights costs
// more than the products, iPC with Adam takes three of them per image, and at width 64
// (BenchmarkOnlineRun) the batch-1 runs of one learning rate and seed took about 200 s
// of one idle core, three times that on the shared machine; width 32 halves the input
// layer. H = 2 is the least depth at which Theorem 1 and iPC's staggered updates show.
// Both batch sizes run on the sequential engine, which the benchmark measured as fast
// as or faster than the parallel one at these sizes while the worker pool keeps both
// cores busy. The quick preset streams
// 2,000 images with 4 learning rates per optimiser and 2 seeds.
//
// The depth experiment has a preset of its own too (Preset.Depth). The full one trains
// the tutorial's network for 900 updates at three seeds and every method of the sweep for
// one epoch (859 updates) at H = 8, 16, 32 and 64, PC with T = H+1 steps; the long skips
// are graphs of H = 9 and 16. The quick one trains the tutorial's network for 100
// updates at one seed and the sweep for 60 updates at H = 4 and 8, tested on 2,000
// images. Its networks are §11's pre-activation maps (layer.NewPreActNet) on a
// graph.Graph, built from a spec.Run by train.New as every experiment's learners are;
// the loop is the experiment's own, because it normalises every batch as jpc's notebook
// does (mean 0.1307, standard deviation 0.3081), which train.Run has no setting for.
//
// # Concurrency and resuming
//
// Grid points train concurrently, Options.Workers at a time (default GOMAXPROCS), each
// on pcnet's sequential engine, so that the worker pool alone decides how many cores
// work; the sequential engine's results equal the parallel engine's bit for bit, and no
// result depends on the number of workers. Every finished point is written atomically to
// OutDir/cache/PRESET-seedSEED/ as JSON, together with every setting it depends on; a
// later run with the same settings reads it instead of training again, so a run that
// was interrupted resumes where it stopped, and cosine and accuracy, run one after the
// other, train the grid once. Online runs are cached the same way, one file per run, and
// run seed by seed, so a run stopped early holds whole grids for its first seeds.
// Options.Fresh retrains. The wavefront and complexity
// experiments take a minute or two and are measured again on every run; complexity
// runs alone, after the grid, because it measures time.
//
// The cache is not committed (docs/results/cache/ is ignored), so a change to how a
// figure is drawn would cost a rerun of an hour. Replot (pcnet experiment NAME -replot)
// redraws the plots of cosine, accuracy and online from the CSV files a run wrote,
// which hold everything those plots show; a test holds it to drawing, from the CSV files,
// the same PNG bytes as the run drew.
//
// # Timing
//
// The complexity experiment's times are measurements of a shared machine, not unit
// tests: each method is warmed up, then the methods take turns, one update each in a
// fresh random order, for many rounds, so that a change of load hits every method alike.
// A method's time is its median over the rounds; its ratio to BP is the median over the
// rounds of the ratio within a round. GOMAXPROCS is set for the measurement and restored
// afterwards.
//
// The paper counts "H+1 VJPs" for BP, one per layer; pcnet counts products, an input VJP
// and a weight VJP one each, as its observer does for PC: BP computes 2H+1 per update,
// PC H·T + H + 1.
package experiments
