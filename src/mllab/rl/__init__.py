"""Reinforcement learning: tabular control (value iteration, Q-learning, SARSA), Monte-Carlo and
TD(0) prediction, and deep Q-learning (DQN) with a replay buffer and a target network."""
